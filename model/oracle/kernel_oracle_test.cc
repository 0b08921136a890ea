// The kernel oracle: model::System against the Linux kernel running this test.
//
// RapidCheck generates sequences of OracleOps (oracle_op.h): mmap (anonymous
// private, file shared, file private; MAP_FIXED_NOREPLACE or first fit),
// munmap, mprotect, one-byte reads and writes, and zaps. Each op is applied
// to a fresh model and to a scratch span of this process (kernel_space.h),
// and after every op everything user space can see is compared:
//
//  1. Results. mmap/munmap/mprotect: the model's Errc must be exactly the
//     kernel's errno (EINVAL <-> kInval, ...), and a successful mmap must
//     return the same address. Reads/writes go through process_vm_readv/
//     writev (a real load/store of an unmapped page would kill the test with
//     a signal): success with the same byte, or EFAULT where the model says
//     SIGSEGV or SIGBUS. Zaps: madvise(MADV_DONTNEED) returns 0 and the model
//     zaps. (SPEC.md 6: the range is always inside one model VMA, because
//     madvise over holes has its own ENOMEM-but-zap rule that
//     zap_page_range_single does not share.)
//  2. Present bits: /proc/self/pagemap bit 63 of every page of the span vs
//     System::page(). This is what exposes fault-around, the zero page, COW
//     and what zaps and munmap remove. (Which physical page is mapped is not
//     visible to us: pagemap hides PFNs, and writable/dirty/young bits are
//     not in pagemap; the contents below stand in for them.)
//  3. Contents: the full 4 KiB of every page present on both sides in a
//     readable VMA (process_vm_readv; only present pages, so the check never
//     faults anything in) vs System::peek(): zero after an anonymous zap,
//     written data kept after a shared-file zap, file data again after a
//     private-file zap.
//  4. Files: pread(2) of every page of both files vs System::file_page(),
//     after every op and once more after the whole span is unmapped at the
//     end of the sequence (shared writes must reach the file, private ones
//     must not).
//  5. Layout: /proc/self/maps vs System::vmas() within the span, both
//     normalized by merging adjacent entries with equal permissions, equal
//     backing and contiguous file offsets (anonymous offsets ignored). The
//     model merges VMAs by the kernel's rules (system.h), but maps does not
//     show everything those rules look at (VM_ACCOUNT, anon_vma), so the
//     layout is compared modulo merging; where merging matters, fault-around
//     exposes it through the present bits of check 2.
//  6. The model's own check_invariants() and bugs() stay empty.
//
// Not compared: the kernel's own placement of first-fit mappings (the model
// searches a window [B, B + 64 pages); its choice is passed to the kernel as
// a MAP_FIXED_NOREPLACE address), and mm-wide counters (rss, page-table
// counts) that /proc shows only for the whole process.
//
// Only PROT_NONE, PROT_READ and PROT_READ|PROT_WRITE are generated: GUP
// refuses to read a VMA without VM_READ although the CPU could (x86 makes
// write-only and exec-only pages readable). The files are written page by
// page so that the page cache holds order-0 folios, the size the model's
// fault-around window assumes (see kernel_space.h).
//
// The default run is deterministic: unless RC_PARAMS is set, it runs 1000
// sequences of up to 40 ops from a fixed seed. On a disagreement RapidCheck
// shrinks the sequence, prints it (one op per line, addresses as B+offset)
// with the trace of both sides' results and the differences, and prints an
// RC_PARAMS="reproduce=..." string that replays exactly that case.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <sstream>

#include "model/oracle/kernel_oracle.h"
#include "model/oracle/oracle_op.h"
#include "testing/rc_default_params.h"

namespace mmv::oracle {
namespace {

MMV_RC_DEFAULT_PARAMS("seed=20250601 max_success=1000 max_size=40");

void ModelMatchesKernelProperty(const OpSequence& seq) {
  if (auto report = run_sequence(seq)) {
    // The first disagreement in full, before shrinking: should a shrunk or
    // replayed run not repeat it, RapidCheck's own report would not show it.
    static bool first = true;
    if (first) {
      first = false;
      std::fprintf(stderr, "first disagreement, before shrinking:\n%s\n", report->c_str());
    }
    RC_FAIL(*report + "\nregression file (save as regressions/<name>.oracle; replay with "
                      "build/<preset>/model/oracle/oracle_replay FILE):\n" +
            oracle_regression_file(seq, *report));
  }
}

// RC_GTEST_PROP written out (same property id, so reproduce strings keep
// working), so that the generator's reach is checked in the same test: at a
// real budget each end-of-file edge of fault-around must have been met, or a
// generator change has quietly stopped checking that rule.
TEST(KernelOracle, ModelMatchesKernel) {
  const OracleTotals before = oracle_totals();
  ::rc::detail::checkGTest(&ModelMatchesKernelProperty);
  const OracleTotals t = oracle_totals();
  if (HasFailure() || t.sequences - before.sequences < 500) return;
  EXPECT_GT(t.sigbus_after_fault_around, before.sigbus_after_fault_around)
      << "the generator no longer reaches SIGBUS after fault-around";
  EXPECT_GT(t.eof_last_page_without_table, before.eof_last_page_without_table)
      << "the generator no longer reaches a past-EOF window at the last page without a PTE table";
  EXPECT_GT(t.eof_last_page_with_table, before.eof_last_page_with_table)
      << "the generator no longer reaches a past-EOF window at the last page with a PTE table";
  EXPECT_GT(t.populate_failed_after_mapping, before.populate_failed_after_mapping)
      << "the generator no longer reaches a populate that fails after mapping pages";
}

// The printed form of ops reads back (parse_oracle_op): every generated
// sequence, as a regression file, parses to ops that print the same.
RC_GTEST_PROP(OracleText, EveryGeneratedSequenceRoundTrips, (const OpSequence& seq)) {
  const std::string text = format_oracle_file({{"kind", "oracle"}, {"caught", "a: b"}}, seq);
  std::string error;
  const std::optional<OracleFile> file = parse_oracle_file(text, &error);
  RC_ASSERT(file.has_value());
  RC_ASSERT(format_oracle_file({{"kind", "oracle"}, {"caught", "a: b"}}, file->seq) == text);
  RC_ASSERT(file->header.at("caught") == "a: b");
}

TEST(OracleText, BadLinesSayWhatWasExpected) {
  auto error_of = [](std::string_view line) {
    std::string error;
    EXPECT_FALSE(parse_oracle_op(line, &error).has_value()) << line;
    return error;
  };
  EXPECT_EQ(error_of("mremap(B+0x0)"), "unknown op 'mremap'");
  EXPECT_EQ(error_of("munmap(0x1000, len 0x1000)"), "munmap: expected the address (B+0x...), got '0x1000'");
  EXPECT_EQ(error_of("mprotect(B+0x1000, len 0x1000, RWX)"), "mprotect: expected a protection (NONE, R or RW), got 'RWX'");
  EXPECT_EQ(error_of("mmap(B+0x0, len 0x1000, RW, file7 shared pgoff 0, FIXED_NOREPLACE)"),
            "mmap: expected anon or file0/file1, got 'file7'");
  EXPECT_EQ(error_of("write(B+0x10, 0x100)"), "write: the value 256 is not a byte");
  EXPECT_EQ(error_of("zap(vma #0, page +1, 2 pages) now"), "zap: unexpected 'now' after the op");
  std::string error;
  const auto ok = parse_oracle_op("read(vma #1 page +43 byte 0x0)", &error);
  ASSERT_TRUE(ok.has_value()) << error;
  std::ostringstream os;
  os << *ok;
  EXPECT_EQ(os.str(), "read(vma #1 page +43 byte 0x0)");
}

// One line for scripts/verify's summary: what this process really compared.
class PrintTotals : public ::testing::Environment {
 public:
  void TearDown() override {
    const OracleTotals t = oracle_totals();
    if (t.sequences == 0) return;
    std::printf(
        "oracle: %llu sequences, %llu ops, each compared on results, pagemap "
        "present bits, page contents, file bytes and VMA layout\n",
        static_cast<unsigned long long>(t.sequences),
        static_cast<unsigned long long>(t.ops));
    std::printf(
        "oracle reach: %llu reads took SIGBUS, %llu of them after fault-around mapped pages; "
        "past-EOF reads whose window starts at the file's last page: %llu without a PTE table, "
        "%llu with one\n",
        static_cast<unsigned long long>(t.sigbus), static_cast<unsigned long long>(t.sigbus_after_fault_around),
        static_cast<unsigned long long>(t.eof_last_page_without_table),
        static_cast<unsigned long long>(t.eof_last_page_with_table));
    std::printf("oracle populate: %llu calls of MADV_POPULATE_WRITE, %llu of them failed after mapping pages\n",
                static_cast<unsigned long long>(t.populates),
                static_cast<unsigned long long>(t.populate_failed_after_mapping));
    if (t.busy_reruns != 0) {
      std::printf(
          "NOTE: oracle: %llu runs disagreed while the kernel was migrating or reclaiming pages and were "
          "made again; each of those sequences passed only because a later run agreed (see the "
          "'oracle: ... disagreed while the kernel was busy' lines)\n",
          static_cast<unsigned long long>(t.busy_reruns));
    }
  }
};
[[maybe_unused]] ::testing::Environment* const print_totals =
    ::testing::AddGlobalTestEnvironment(new PrintTotals);

// Directed sequences: the edge cases the issue names, run every time
// whatever the random generator picks.
OracleOp mmap_op(MapKind kind, std::uint32_t page, std::uint64_t pages,
                 Prot prot = Prot::kReadWrite, std::uint32_t file = 0,
                 std::uint32_t pgoff = 0, bool fixed = true) {
  OpMmap o;
  o.kind = kind;
  o.file = file;
  o.pgoff = pgoff;
  o.fixed = fixed;
  o.page = page;
  o.length = pages * kPageSize;
  o.prot = prot;
  return OracleOp{o};
}
OracleOp munmap_op(std::uint32_t page, std::uint64_t len, std::uint32_t misalign = 0) {
  return OracleOp{OpMunmap{page, misalign, len}};
}
OracleOp mprotect_op(std::uint32_t page, std::uint64_t len, Prot prot,
                     std::uint32_t misalign = 0) {
  return OracleOp{OpMprotect{page, misalign, len, prot}};
}
OracleOp read_op(std::uint32_t page, std::uint32_t offset = 0) {
  return OracleOp{OpRead{false, 0, page, offset}};
}
OracleOp write_op(std::uint32_t page, std::uint32_t offset, std::uint8_t v) {
  return OracleOp{OpWrite{false, 0, page, offset, v}};
}
OracleOp zap_op(std::uint32_t vma, std::uint32_t first, std::uint32_t count) {
  return OracleOp{OpZap{vma, first, count}};
}
OracleOp populate_op(std::uint32_t page, std::uint64_t len, std::uint32_t misalign = 0) {
  return OracleOp{OpPopulate{page, misalign, len}};
}

void expect_agree(std::vector<OracleOp> ops) {
  const OpSequence seq{std::move(ops)};
  if (auto report = run_sequence(seq)) ADD_FAILURE() << seq << "\n" << *report;
}

constexpr std::uint64_t P = kPageSize;

TEST(KernelOracleEdge, UnalignedAndZeroLengths) {
  OracleOp unaligned = mmap_op(MapKind::kAnonPrivate, 2, 1);
  std::get<OpMmap>(unaligned.op).misalign = 0x10;
  OracleOp zero = mmap_op(MapKind::kAnonPrivate, 2, 0);
  OracleOp zero_ff = mmap_op(MapKind::kFileShared, 2, 0, Prot::kRead, 1, 0, false);
  expect_agree({unaligned, zero, zero_ff, mmap_op(MapKind::kAnonPrivate, 0, 4),
                munmap_op(1, P, 0x800), munmap_op(1, 0), mprotect_op(1, P, Prot::kRead, 1),
                mprotect_op(1, 0, Prot::kNone), munmap_op(1, 1), mprotect_op(2, P + 1, Prot::kRead),
                read_op(1), read_op(2), write_op(3, 5, 9)});
}

TEST(KernelOracleEdge, OverlappingFixedMmapIsEexist) {
  expect_agree({mmap_op(MapKind::kAnonPrivate, 4, 4), mmap_op(MapKind::kFileShared, 6, 4),
                mmap_op(MapKind::kFilePrivate, 0, 5, Prot::kRead, 1),
                mmap_op(MapKind::kAnonPrivate, 0, 4), write_op(4, 0, 1)});
}

TEST(KernelOracleEdge, FileMappingPastEndOfFile) {
  // 8 pages from file page 8 of a 12-page file: pages 4..7 are past EOF.
  expect_agree({mmap_op(MapKind::kFileShared, 0, 8, Prot::kReadWrite, 0, 8),
                read_op(2), read_op(5), write_op(6, 1, 7), write_op(1, 1, 7),
                mmap_op(MapKind::kFilePrivate, 16, 8, Prot::kReadWrite, 1, 8),
                write_op(22, 0, 3), write_op(17, 0, 3), read_op(21),
                mmap_op(MapKind::kFilePrivate, 32, 2, Prot::kRead, 1, 13), read_op(32)});
}

TEST(KernelOracleEdge, FaultPastEndOfFileFirst) {
  // The first access of the VMA is past EOF.
  expect_agree({mmap_op(MapKind::kFileShared, 0, 16, Prot::kRead, 0, 0), read_op(13)});
}

// Fault-around at end of file (model/fault.cc, fault_around): a read fault
// past EOF whose window, clamped to EOF, starts at the file's last page maps
// that page only if a PTE table already covers the window. file0 has 12
// pages; the VMA maps pages 9..12 at B+14..B+17, and B+17 is past EOF.
TEST(KernelOracleEdge, FaultAroundAtEndOfFileWithoutATableMapsNothing) {
  expect_agree({mmap_op(MapKind::kFileShared, 14, 4, Prot::kReadWrite, 0, 9), read_op(17)});
}
TEST(KernelOracleEdge, FaultAroundAtEndOfFileAfterAFaultInTheSameTable) {
  expect_agree({mmap_op(MapKind::kFileShared, 14, 4, Prot::kReadWrite, 0, 9), write_op(14, 0xfff, 0),
                read_op(17)});
}
TEST(KernelOracleEdge, FaultAroundAtEndOfFileWithATableOfAnotherVma) {
  expect_agree({mmap_op(MapKind::kAnonPrivate, 40, 1), write_op(40, 0, 1),
                mmap_op(MapKind::kFileShared, 14, 4, Prot::kRead, 0, 9), read_op(17)});
}
TEST(KernelOracleEdge, FaultAroundAtEndOfFileAfterTheTableWasFreed) {
  // munmap of the only VMA in the 2 MiB frees its PTE table.
  expect_agree({mmap_op(MapKind::kAnonPrivate, 40, 1), write_op(40, 0, 1), munmap_op(40, P),
                mmap_op(MapKind::kFileShared, 14, 4, Prot::kRead, 0, 9), read_op(17)});
}

TEST(KernelOracleEdge, FaultAroundOverAdjacentFileMappings) {
  // Two mappings of file0, adjacent in address and file offset: the kernel
  // merges them into one VMA.
  expect_agree({mmap_op(MapKind::kFileShared, 3, 1, Prot::kReadWrite, 0, 2),
                mmap_op(MapKind::kFileShared, 1, 2, Prot::kReadWrite, 0, 0), read_op(1)});
}

TEST(KernelOracleEdge, FaultAroundAfterMprotectSplitIsUndone) {
  // mprotect splits a VMA, a second mprotect restores the protection: the
  // kernel merges the pieces again.
  expect_agree({mmap_op(MapKind::kFilePrivate, 16, 6, Prot::kRead, 1, 0),
                mprotect_op(20, 2 * P, Prot::kNone), mprotect_op(20, 2 * P, Prot::kRead),
                read_op(17)});
}

TEST(KernelOracleEdge, MprotectOverHole) {
  expect_agree({mmap_op(MapKind::kAnonPrivate, 0, 4), mmap_op(MapKind::kFilePrivate, 6, 4),
                write_op(1, 0, 5), mprotect_op(0, 10 * P, Prot::kRead), write_op(1, 0, 6),
                write_op(7, 0, 6), mprotect_op(4, 4 * P, Prot::kNone),
                mprotect_op(2, 3 * P, Prot::kNone), read_op(3), read_op(2)});
}

TEST(KernelOracleEdge, MunmapSplitsInTheMiddle) {
  expect_agree({mmap_op(MapKind::kFilePrivate, 0, 10, Prot::kReadWrite, 0, 1),
                write_op(2, 0, 0x55), read_op(8), munmap_op(3, 2 * P), read_op(6),
                write_op(4, 0, 1), mmap_op(MapKind::kFileShared, 3, 2, Prot::kReadWrite, 0, 3),
                read_op(3), munmap_op(0, 20 * P)});
}

TEST(KernelOracleEdge, ZapEachKind) {
  expect_agree({mmap_op(MapKind::kAnonPrivate, 0, 4), write_op(1, 0, 0x11), read_op(2),
                zap_op(0, 0, 4), read_op(1),
                mmap_op(MapKind::kFileShared, 8, 4, Prot::kReadWrite, 0, 2),
                write_op(9, 1, 0x22), zap_op(1, 0, 4), read_op(9, 1),
                mmap_op(MapKind::kFilePrivate, 16, 4, Prot::kReadWrite, 1, 2),
                write_op(17, 1, 0x33), zap_op(2, 1, 1), read_op(17, 1),
                zap_op(2, 0, 0)});
}

// MADV_POPULATE_WRITE (System::populate): what it faults in, the copies it
// makes, and where it stops with which error, keeping what it populated.
TEST(KernelOracleEdge, PopulateWriteOfEachKind) {
  expect_agree({mmap_op(MapKind::kAnonPrivate, 0, 6), read_op(1), write_op(2, 0, 0x44),
                populate_op(0, 6 * P), read_op(2),
                mmap_op(MapKind::kFileShared, 8, 4, Prot::kReadWrite, 0, 2), read_op(9),
                populate_op(8, 4 * P),
                mmap_op(MapKind::kFilePrivate, 16, 4, Prot::kReadWrite, 1, 2), read_op(17),
                populate_op(16, 3 * P + 1), read_op(17, 1), zap_op(2, 0, 4), read_op(17, 1)});
}

TEST(KernelOracleEdge, PopulateWriteErrors) {
  expect_agree({mmap_op(MapKind::kAnonPrivate, 0, 4), populate_op(0, P, 0x10),
                populate_op(0, ~std::uint64_t{0}), populate_op(1, ~std::uint64_t{0} - 2 * P),
                populate_op(30, 0),
                populate_op(2, 4 * P),  // a hole after two pages: ENOMEM, those two kept
                populate_op(20, P),     // no VMA at all
                mmap_op(MapKind::kAnonPrivate, 4, 2, Prot::kRead), populate_op(0, 6 * P),
                mmap_op(MapKind::kAnonPrivate, 8, 2, Prot::kNone), populate_op(8, P),
                mmap_op(MapKind::kFileShared, 12, 2, Prot::kRead, 0, 0), populate_op(12, 2 * P),
                // File page 12 is the first past EOF: EFAULT after 10 and 11.
                mmap_op(MapKind::kFilePrivate, 40, 4, Prot::kReadWrite, 1, 10), populate_op(40, 4 * P),
                mmap_op(MapKind::kFileShared, 48, 4, Prot::kReadWrite, 0, 10), populate_op(48, 4 * P)});
}

TEST(KernelOracleEdge, FirstFitFillsHoles) {
  const OracleOp ff = mmap_op(MapKind::kAnonPrivate, 0, 3, Prot::kReadWrite, 0, 0, false);
  expect_agree({ff, ff, ff, munmap_op(3, 3 * P),
                mmap_op(MapKind::kFilePrivate, 0, 2, Prot::kRead, 1, 4, false), ff,
                mmap_op(MapKind::kFileShared, 0, 1, Prot::kRead, 0, 0, false), read_op(3)});
}

}  // namespace
}  // namespace mmv::oracle
