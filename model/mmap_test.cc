// mmap, munmap and mprotect (SPEC.md section 3; errors and choices in
// model/system.h).

#include <gtest/gtest.h>

#include <vector>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

constexpr VmFlags kAllMay = flags::kMayRead | flags::kMayWrite | flags::kMayExec;

std::vector<std::pair<Addr, Addr>> Layout(const System& s) {
  std::vector<std::pair<Addr, Addr>> out;
  for (const auto& [start, v] : s.vmas()) {
    EXPECT_EQ(start, v.start);
    out.emplace_back(v.start, v.end);
  }
  return out;
}

using Ranges = std::vector<std::pair<Addr, Addr>>;

VmFlags ProtAt(const System& s, Addr a) {
  auto v = s.vma_lookup(a);
  EXPECT_TRUE(v.has_value()) << std::hex << a;
  return v ? (v->flags & flags::kProtMask) : ~VmFlags{0};
}

// ===========================================================================
// mmap: placement
// ===========================================================================

TEST(Mmap, FixedInsertsExactlyTheRequestedRange) {
  System s(kLo, kHi);
  EXPECT_EQ(Map(s, AnonAt(kLo + 4 * kP, 3 * kP)), kLo + 4 * kP);
  auto v = s.vma_lookup(kLo + 5 * kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->start, kLo + 4 * kP);
  EXPECT_EQ(v->end, kLo + 7 * kP);
  EXPECT_EQ(v->backing.kind, BackingKind::kAnon);
  EXPECT_FALSE(s.vma_lookup(kLo + 3 * kP).has_value());
  EXPECT_FALSE(s.vma_lookup(kLo + 7 * kP).has_value());
  EXPECT_EQ(s.vmas().size(), 1u);
  // Nothing is faulted in by mmap.
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_EQ(s.table_counts(), TableCounts{});
  EXPECT_TRUE(s.folios().empty());
  ExpectInvariants(s);
}

TEST(Mmap, FlagsCarryProtAndMayBits) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP, kR));
  Map(s, AnonAt(kLo + kP, kP, kRW | kX));
  Map(s, AnonAt(kLo + 2 * kP, kP, flags::kNone));
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo + 3 * kP, kP, /*shared=*/true, kRW));
  Map(s, FileAt(f, 0, kLo + 4 * kP, kP, /*shared=*/false, kRW));

  auto a = *s.vma_lookup(kLo);
  EXPECT_EQ(a.flags & flags::kProtMask, kR);
  // The kernel always grants MAYREAD|MAYWRITE|MAYEXEC to these mappings.
  EXPECT_EQ(a.flags & kAllMay, kAllMay) << flags_to_string(a.flags);
  EXPECT_FALSE(a.is_shared());
  EXPECT_EQ(s.vma_lookup(kLo + kP)->flags & flags::kProtMask, kRW | kX);
  EXPECT_EQ(s.vma_lookup(kLo + 2 * kP)->flags & flags::kProtMask, 0u);

  auto shared = *s.vma_lookup(kLo + 3 * kP);
  EXPECT_TRUE(shared.is_shared());
  EXPECT_NE(shared.flags & flags::kMayShare, 0u) << flags_to_string(shared.flags);
  EXPECT_EQ(shared.backing.kind, BackingKind::kFile);
  EXPECT_EQ(shared.backing.file, f);
  auto priv = *s.vma_lookup(kLo + 4 * kP);
  EXPECT_FALSE(priv.is_shared());
  EXPECT_EQ(priv.flags & kAllMay, kAllMay);
  ExpectInvariants(s);
}

TEST(Mmap, AdviceSetsHugePageFlags) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP, kRW, flags::kHugePage));
  Map(s, AnonAt(kLo + kP, kP, kRW, flags::kNoHugePage));
  EXPECT_NE(s.vma_lookup(kLo)->flags & flags::kHugePage, 0u);
  EXPECT_NE(s.vma_lookup(kLo + kP)->flags & flags::kNoHugePage, 0u);
  EXPECT_EQ(s.vma_lookup(kLo + kP)->flags & flags::kHugePage, 0u);
}

TEST(Mmap, LengthIsRoundedUpToPages) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP + 1));
  EXPECT_EQ(s.vma_lookup(kLo)->end, kLo + 2 * kP);
}

TEST(Mmap, FirstFitFillsTheLowestGapThatIsLargeEnough) {
  //   kLo   +1p   +2p   +3p   +4p   +5p   +6p
  //   |--- A ----------|--- B -----------|
  //   after munmap(A):   free  |--- B ---|
  //   C (2p) fits at kLo; D (2p) does not fit in [kLo+2p, kLo+3p): after B.
  System s(kLo, kHi);
  EXPECT_EQ(Map(s, AnonAnywhere(3 * kP)), kLo);
  EXPECT_EQ(Map(s, AnonAnywhere(3 * kP)), kLo + 3 * kP);
  ASSERT_TRUE(IsOk(s.munmap(kLo, 3 * kP)));
  EXPECT_EQ(Map(s, AnonAnywhere(2 * kP)), kLo);
  EXPECT_EQ(Map(s, AnonAnywhere(2 * kP)), kLo + 6 * kP);
  EXPECT_EQ(Map(s, AnonAnywhere(kP)), kLo + 2 * kP);
  // Equal anonymous neighbours merge, as in the kernel.
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + 8 * kP}}));
  ExpectInvariants(s);
}

TEST(Mmap, FreeHintIsUsed) {
  System s(kLo, kHi);
  EXPECT_EQ(Map(s, AnonAnywhere(2 * kP, kLo + 0x100000)), kLo + 0x100000);
  EXPECT_EQ(s.vma_lookup(kLo + 0x100000)->end, kLo + 0x100000 + 2 * kP);
}

TEST(Mmap, OccupiedHintFallsBackToFirstFit) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo + 0x100000, 2 * kP));
  // Hint starts inside the existing VMA.
  EXPECT_EQ(Map(s, AnonAnywhere(kP, kLo + 0x100000 + kP)), kLo);
  // Hint is free but [hint, hint + len) runs into the existing VMA.
  EXPECT_EQ(Map(s, AnonAnywhere(2 * kP, kLo + 0x100000 - kP)), kLo + kP);
  ExpectInvariants(s);
}

TEST(Mmap, FixedMappingIsNotLimitedToTheFirstFitWindow) {
  System s(kLo, kHi);
  EXPECT_EQ(Map(s, AnonAt(kHi + 0x100000, kP)), kHi + 0x100000);
  EXPECT_EQ(Map(s, AnonAt(kMmapMinAddr, kP)), kMmapMinAddr);
  // First fit still starts at the window.
  EXPECT_EQ(Map(s, AnonAnywhere(kP)), kLo);
}

TEST(Mmap, NoGapInWindowIsEnomem) {
  System s(kLo, kLo + 4 * kP);
  EXPECT_TRUE(IsErr(s.mmap(AnonAnywhere(5 * kP)), Errc::kNoMem));
  EXPECT_EQ(Map(s, AnonAnywhere(4 * kP)), kLo);
  const System before = s;
  EXPECT_TRUE(IsErr(s.mmap(AnonAnywhere(kP)), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

// ===========================================================================
// mmap: every error, each in isolation, state unchanged
// ===========================================================================

struct ErrCase {
  const char* what;
  MmapRequest req;
  Errc want;
};

class MmapErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = s_.create_file(MarkedPages(2), System::Cache::kCold);
    // An existing VMA to overlap with.
    Map(s_, AnonAt(kLo + 0x10000, 4 * kP));
  }
  void Expect(const MmapRequest& r, Errc e, const char* what) {
    const System before = s_;
    EXPECT_TRUE(IsErr(s_.mmap(r), e)) << what;
    EXPECT_EQ(s_, before) << what << ": a failed mmap changed the state";
  }
  System s_{kLo, kHi};
  FileId file_ = 0;
};

TEST_F(MmapErrors, ZeroLengthIsEinval) {
  Expect(AnonAt(kLo, 0), Errc::kInval, "fixed");
  Expect(AnonAnywhere(0), Errc::kInval, "anywhere");
}

TEST_F(MmapErrors, LengthRoundingPastAddressSpaceIsEnomem) {
  Expect(AnonAnywhere(~std::uint64_t{0}), Errc::kNoMem, "len ~0");
  Expect(AnonAt(kLo, ~std::uint64_t{0} - 1), Errc::kNoMem, "fixed len ~0-1");
}

TEST_F(MmapErrors, BadProtIsEinval) {
  Expect(AnonAt(kLo, kP, flags::kShared), Errc::kInval, "prot SHARED");
  Expect(AnonAt(kLo, kP, kR | 0x100), Errc::kInval, "prot 0x100");
  Expect(AnonAt(kLo, kP, kR | flags::kMayRead), Errc::kInval, "prot MAYREAD");
}

TEST_F(MmapErrors, BadAdviceIsEinval) {
  Expect(AnonAt(kLo, kP, kRW, flags::kMixedMap), Errc::kInval, "advice MIXEDMAP");
  Expect(AnonAt(kLo, kP, kRW, flags::kShared), Errc::kInval, "advice SHARED");
  Expect(AnonAt(kLo, kP, kRW, flags::kRead), Errc::kInval, "advice READ");
}

TEST_F(MmapErrors, SetupWithoutDriverBackingIsEinval) {
  auto r = AnonAt(kLo, kP);
  r.setup = {VmaNewOp::kSetMixedMap};
  Expect(r, Errc::kInval, "anon + setup");
  auto f = FileAt(file_, 0, kLo, kP, true);
  f.setup = {VmaNewOp::kSetDontCopy};
  Expect(f, Errc::kInval, "file + setup");
}

TEST_F(MmapErrors, SharedAnonymousIsEinval) {
  auto r = AnonAt(kLo, kP);
  r.shared = true;
  Expect(r, Errc::kInval, "shared anon");
}

TEST_F(MmapErrors, FixedUnalignedIsEinval) {
  Expect(AnonAt(kLo + 1, kP), Errc::kInval, "addr +1");
  Expect(AnonAt(kLo + kP / 2, kP), Errc::kInval, "addr +2048");
}

TEST_F(MmapErrors, FixedEndPastTaskSizeIsEnomem) {
  Expect(AnonAt(kTaskSize - kP, 2 * kP), Errc::kNoMem, "end past");
  Expect(AnonAt(kTaskSize, kP), Errc::kNoMem, "start at kTaskSize");
}

TEST_F(MmapErrors, FixedBelowMmapMinAddrIsEperm) {
  Expect(AnonAt(0, kP), Errc::kPerm, "addr 0");
  Expect(AnonAt(kMmapMinAddr - kP, kP), Errc::kPerm, "min - 1 page");
}

TEST_F(MmapErrors, FixedOverlapIsEexist) {
  //   kLo+0x10000          +4p
  //   |------ existing -----|
  //  [== a ==)                        overlaps the first page
  //                    [== b ==)      overlaps the last page
  //       [= c =)                     inside
  // [============ d ==============)   covers it
  const Addr e = kLo + 0x10000;
  Expect(AnonAt(e - kP, 2 * kP), Errc::kExist, "a");
  Expect(AnonAt(e + 3 * kP, 2 * kP), Errc::kExist, "b");
  Expect(AnonAt(e + kP, kP), Errc::kExist, "c");
  Expect(AnonAt(e - kP, 6 * kP), Errc::kExist, "d");
  // Adjacent on both sides is fine.
  EXPECT_EQ(Map(s_, AnonAt(e - kP, kP)), e - kP);
  EXPECT_EQ(Map(s_, AnonAt(e + 4 * kP, kP)), e + 4 * kP);
}

TEST_F(MmapErrors, FileOffsetOverflowIsEoverflow) {
  Expect(FileAt(file_, ~std::uint64_t{0} - 1, kLo, 4 * kP, true), Errc::kOverflow,
         "pgoff ~0-1 + 4 pages");
  Expect(FileAt(file_, ~std::uint64_t{0}, kLo, kP, false), Errc::kOverflow,
         "pgoff ~0 + 1 page");
}

TEST_F(MmapErrors, SetupTryClearIsEinval) {
  Expect(DriverAt(kLo, kP, {VmaNewOp::kSetMixedMap, VmaNewOp::kTryClearMayWrite}, kRW),
         Errc::kInval, "clear MAYWRITE with WRITE");
}

TEST_F(MmapErrors, VmaAllocationFailureIsEnomem) {
  const System before = s_;
  s_.fail_next_allocation();
  EXPECT_TRUE(IsErr(s_.mmap(AnonAt(kLo, kP)), Errc::kNoMem));
  EXPECT_FALSE(s_.allocation_failure_armed()) << "the injection was not consumed";
  EXPECT_EQ(s_, before);
  // The next one succeeds.
  EXPECT_EQ(Map(s_, AnonAt(kLo, kP)), kLo);
}

// ===========================================================================
// mmap: the order of the errors (system.h: "Errors, in the kernel's order")
// Each case has two faults; the earlier one in the documented order wins.
// ===========================================================================

TEST_F(MmapErrors, OrderLengthBeforeProt) {
  Expect(AnonAt(kLo, ~std::uint64_t{0}, 0x100), Errc::kNoMem, "len ~0 + bad prot");
}

TEST_F(MmapErrors, OrderLengthBeforeSharedAnon) {
  auto r = AnonAnywhere(~std::uint64_t{0});
  r.shared = true;
  Expect(r, Errc::kNoMem, "len ~0 + shared anon");
}

TEST_F(MmapErrors, OrderLengthBeforeFixedUnaligned) {
  Expect(AnonAt(kLo + 1, ~std::uint64_t{0}), Errc::kNoMem, "len ~0 + unaligned");
}

TEST_F(MmapErrors, OrderProtBeforeFixedChecks) {
  Expect(AnonAt(kTaskSize - kP, 2 * kP, 0x100), Errc::kInval,
         "bad prot + end past kTaskSize");
  Expect(AnonAt(0, kP, 0x100), Errc::kInval, "bad prot + below min");
  Expect(AnonAt(kLo + 0x10000, kP, 0x100), Errc::kInval, "bad prot + overlap");
}

TEST_F(MmapErrors, OrderSharedAnonBeforeFixedChecks) {
  auto below = AnonAt(0, kP);
  below.shared = true;
  Expect(below, Errc::kInval, "shared anon + below min");
  auto overlap = AnonAt(kLo + 0x10000, kP);
  overlap.shared = true;
  Expect(overlap, Errc::kInval, "shared anon + overlap");
}

TEST_F(MmapErrors, OrderSetupWithoutDriverBeforeFixedChecks) {
  auto r = AnonAt(kLo + 0x10000, kP);
  r.setup = {VmaNewOp::kSetIo};
  Expect(r, Errc::kInval, "setup on anon + overlap");
  auto below = AnonAt(0, kP);
  below.setup = {VmaNewOp::kSetIo};
  Expect(below, Errc::kInval, "setup on anon + below min");
}

// NOTE: system.h lists "unaligned -> EINVAL" before "end past kTaskSize ->
// ENOMEM", but the kernel's __get_unmapped_area checks
// `addr > TASK_SIZE - len` (ENOMEM) before `offset_in_page(addr)` (EINVAL),
// and system.h says the errors come "in the kernel's order". The model
// follows the kernel; so does this test.
TEST_F(MmapErrors, OrderEndPastTaskSizeBeforeUnaligned) {
  Expect(AnonAt(kTaskSize - kP + 1, 2 * kP), Errc::kNoMem, "unaligned + end past");
}

TEST_F(MmapErrors, OrderUnalignedBeforeBelowMin) {
  Expect(AnonAt(kP + 1, kP), Errc::kInval, "unaligned + below min");
}

TEST_F(MmapErrors, OrderEndPastTaskSizeBeforeBelowMin) {
  // [0x1000, kTaskSize + 0x1000): below mmap_min_addr and ending past it.
  Expect(AnonAt(kP, kTaskSize), Errc::kNoMem, "end past + below min");
}

// NOTE: system.h lists EOVERFLOW after the fixed-address checks, but the
// kernel's do_mmap checks the offset overflow right after rounding the
// length, before __get_unmapped_area and the MAP_FIXED_NOREPLACE check. The
// model follows the kernel; so does this test.
TEST_F(MmapErrors, OrderOffsetOverflowBeforeFixedChecks) {
  Expect(FileAt(file_, ~std::uint64_t{0}, kLo + 0x10000, kP, true), Errc::kOverflow,
         "overlap + pgoff overflow");
  Expect(FileAt(file_, ~std::uint64_t{0}, kLo + 1, kP, true), Errc::kOverflow,
         "unaligned + pgoff overflow");
  Expect(FileAt(file_, ~std::uint64_t{0}, kP, kP, true), Errc::kOverflow,
         "below min + pgoff overflow");
}

TEST_F(MmapErrors, OrderOverlapBeforeSetupTryClear) {
  Expect(DriverAt(kLo + 0x10000, kP, {VmaNewOp::kTryClearMayRead}, kR), Errc::kExist,
         "overlap + try_clear");
}

TEST_F(MmapErrors, OrderOffsetOverflowBeforeNoGap) {
  System tiny(kLo, kLo + kP);
  FileId f = tiny.create_file(MarkedPages(1), System::Cache::kCold);
  MmapRequest r = FileAt(f, ~std::uint64_t{0}, 0, 4 * kP, false);
  r.fixed = false;
  EXPECT_TRUE(IsErr(tiny.mmap(r), Errc::kOverflow));
}

// NOTE: system.h lists the setup's try_clear_* EINVAL before "no gap" and
// "VMA allocation", but in the kernel the driver's mmap handler runs inside
// mmap_region, after __get_unmapped_area found the address and after
// vm_area_alloc. The model follows the kernel; so do these tests.
TEST_F(MmapErrors, OrderNoGapBeforeSetupTryClear) {
  System tiny(kLo, kLo + kP);
  auto r = DriverAt(0, 4 * kP, {VmaNewOp::kTryClearMayWrite}, kRW);
  r.fixed = false;
  EXPECT_TRUE(IsErr(tiny.mmap(r), Errc::kNoMem));
}

TEST_F(MmapErrors, OrderVmaAllocationBeforeSetupTryClear) {
  const System before = s_;
  s_.fail_next_allocation();
  EXPECT_TRUE(IsErr(
      s_.mmap(DriverAt(kLo, kP, {VmaNewOp::kTryClearMayWrite}, kRW)), Errc::kNoMem));
  EXPECT_FALSE(s_.allocation_failure_armed());
  EXPECT_EQ(s_, before);
}

TEST_F(MmapErrors, OrderNoGapBeforeAllocation) {
  // No gap is found before any allocation, so the injected failure is left
  // armed for the next allocation.
  System tiny(kLo, kLo + kP);
  tiny.fail_next_allocation();
  EXPECT_TRUE(IsErr(tiny.mmap(AnonAnywhere(2 * kP)), Errc::kNoMem));
  EXPECT_TRUE(tiny.allocation_failure_armed());
  EXPECT_TRUE(tiny.vmas().empty());
}

TEST_F(MmapErrors, EarlyErrorsDoNotConsumeTheInjectedFailure) {
  s_.fail_next_allocation();
  const System before = s_;
  EXPECT_TRUE(IsErr(s_.mmap(AnonAt(kLo + 0x10000, kP)), Errc::kExist));
  EXPECT_TRUE(IsErr(s_.mmap(AnonAt(kLo, 0)), Errc::kInval));
  EXPECT_EQ(s_, before);
  EXPECT_TRUE(s_.allocation_failure_armed());
}

// ===========================================================================
// munmap
// ===========================================================================

TEST(Munmap, WholeVma) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(s.munmap(kLo, 4 * kP)));
  EXPECT_TRUE(s.vmas().empty());
  ExpectInvariants(s);
}

TEST(Munmap, MiddleSplitsIntoTwoWithAdjustedFileOffset) {
  //   kLo                                      kLo+8p
  //   |------------ file VMA, pgoff 10 ---------|
  //              [====== munmap ======)
  //   |-- pgoff 10 --|                 |-- pgoff 15 --|
  //   kLo         kLo+2p            kLo+5p          kLo+8p
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(20), System::Cache::kCold);
  Map(s, FileAt(f, 10, kLo, 8 * kP, /*shared=*/true, kR));
  const VmFlags before_flags = s.vma_lookup(kLo)->flags;
  ASSERT_TRUE(IsOk(s.munmap(kLo + 2 * kP, 3 * kP)));
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + 2 * kP}, {kLo + 5 * kP, kLo + 8 * kP}}));
  auto left = *s.vma_lookup(kLo);
  auto right = *s.vma_lookup(kLo + 5 * kP);
  EXPECT_EQ(left.backing.pgoff, 10u);
  EXPECT_EQ(right.backing.pgoff, 15u);
  EXPECT_EQ(right.backing.file, f);
  EXPECT_EQ(left.flags, before_flags);
  EXPECT_EQ(right.flags, before_flags);
  // The right piece still maps the right file pages.
  auto r = s.read(kLo + 5 * kP);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r.value(), s.disk_page(f, 15).get(0));
  EXPECT_NE(r.value(), 0);
  ExpectInvariants(s);
}

TEST(Munmap, SplitsAtBothEndsAcrossTwoVmasAndZapsTheRange) {
  //   kLo                  kLo+4p                 kLo+8p
  //   |------- A ----------|-------- B -----------|
  //              [======== munmap ========)
  //   |-- A' ---|                         |-- B' -|
  //   kLo     kLo+2p                   kLo+6p   kLo+8p
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  Map(s, AnonAt(kLo + 4 * kP, 4 * kP));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(IsOk(s.write(kLo + i * kP, 0x10 + i)));
  EXPECT_EQ(s.rss().anon, 8);
  ASSERT_TRUE(IsOk(s.munmap(kLo + 2 * kP, 4 * kP)));
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + 2 * kP}, {kLo + 6 * kP, kLo + 8 * kP}}));
  EXPECT_EQ(s.rss().anon, 4);
  EXPECT_EQ(s.folios().size(), 4u);
  for (int i = 2; i < 6; ++i) EXPECT_FALSE(s.page(kLo + i * kP).has_value()) << i;
  // Contents outside the range survive.
  EXPECT_EQ(s.read(kLo + kP).value(), 0x11);
  EXPECT_EQ(s.read(kLo + 6 * kP).value(), 0x16);
  // The PTE table is still needed by A' and B'.
  EXPECT_EQ(s.table_counts(), (TableCounts{1, 1, 1}));
  ExpectInvariants(s);
}

TEST(Munmap, HolesAreFine) {
  //   |- A -|  hole  |- B -|  hole
  //   [=========== munmap ==========)
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  Map(s, AnonAt(kLo + 2 * kP, kP));
  ASSERT_TRUE(IsOk(s.munmap(kLo, 4 * kP)));
  EXPECT_TRUE(s.vmas().empty());
  // A range with nothing mapped at all.
  ASSERT_TRUE(IsOk(s.munmap(kLo + 0x100000, 16 * kP)));
}

TEST(Munmap, LengthIsRoundedUp) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 3 * kP));
  ASSERT_TRUE(IsOk(s.munmap(kLo, 1)));
  EXPECT_EQ(Layout(s), (Ranges{{kLo + kP, kLo + 3 * kP}}));
}

TEST(Munmap, EinvalCasesChangeNothing) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  const System before = s;
  EXPECT_TRUE(IsErr(s.munmap(kLo + 1, kP), Errc::kInval)) << "unaligned";
  EXPECT_TRUE(IsErr(s.munmap(kLo, 0), Errc::kInval)) << "zero length";
  EXPECT_TRUE(IsErr(s.munmap(kTaskSize - kP, 2 * kP), Errc::kInval)) << "past end";
  EXPECT_TRUE(IsErr(s.munmap(kTaskSize, kP), Errc::kInval)) << "at end";
  EXPECT_TRUE(IsErr(s.munmap(kLo, ~std::uint64_t{0} - kLo), Errc::kInval))
      << "wraps";
  EXPECT_EQ(s, before);
}

TEST(Munmap, SplitAllocationFailureIsEnomemAndChangesNothing) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo + kP, 1)));
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.munmap(kLo + kP, kP), Errc::kNoMem));
  EXPECT_EQ(s, before);
  // Unmapping whole VMAs needs no allocation: the failure stays armed.
  s.fail_next_allocation();
  ASSERT_TRUE(IsOk(s.munmap(kLo, 4 * kP)));
  EXPECT_TRUE(s.allocation_failure_armed());
  EXPECT_TRUE(s.vmas().empty());
}

TEST(Munmap, FreesTablesNoVmaCoversAnyMore) {
  // Two VMAs in one 2 MiB block, a third in another block of the same GiB.
  //   kLo        kLo+1p      ...   kLo+2MiB
  //   |- A -|- B -|                |- C -|
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  Map(s, AnonAt(kLo + kP, kP));
  Map(s, AnonAt(kLo + kPmdSize, kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  ASSERT_TRUE(IsOk(s.write(kLo + kP, 2)));
  ASSERT_TRUE(IsOk(s.write(kLo + kPmdSize, 3)));
  EXPECT_EQ(s.table_counts(), (TableCounts{2, 1, 1}));

  // B still covers A's block: the PTE table stays.
  ASSERT_TRUE(IsOk(s.munmap(kLo, kP)));
  EXPECT_EQ(s.table_counts(), (TableCounts{2, 1, 1}));
  EXPECT_EQ(s.rss().anon, 2);
  ExpectInvariants(s);

  // Now nothing covers the first block.
  ASSERT_TRUE(IsOk(s.munmap(kLo + kP, kP)));
  EXPECT_EQ(s.table_counts(), (TableCounts{1, 1, 1}));
  ExpectInvariants(s);

  // Last VMA gone: every table goes.
  ASSERT_TRUE(IsOk(s.munmap(kLo + kPmdSize, kP)));
  EXPECT_EQ(s.table_counts(), (TableCounts{0, 0, 0}));
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_TRUE(s.folios().empty());
  ExpectInvariants(s);
}

TEST(Munmap, TablesOfAnUntouchedVmaAreKeptIfStillCovered) {
  // The VMA is split; the remaining piece still covers the table.
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  ASSERT_TRUE(IsOk(s.munmap(kLo, kP)));
  EXPECT_EQ(s.table_counts(), (TableCounts{1, 1, 1}));
  EXPECT_EQ(s.rss().anon, 0);
  EXPECT_TRUE(s.folios().empty());
}

TEST(Munmap, FileFolioStaysInPageCacheAndDirtyDataSurvives) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo + 7, 0xee)));
  ASSERT_TRUE(IsOk(s.munmap(kLo, 2 * kP)));
  FolioId c = CachedFolio(s, f, 0);
  ASSERT_NE(c, 0u);
  EXPECT_EQ(FindFolio(s, c)->refcount, 1u);
  EXPECT_TRUE(FindFolio(s, c)->dirty);
  EXPECT_EQ(s.file_page(f, 0).get(7), 0xee);
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0).get(7), 0xee);
  ExpectInvariants(s);
}

TEST(Munmap, PartOfATransparentHugePageSplitsIt) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(s.write(kLo + 5 * kP, 9)));
  ASSERT_TRUE(s.page(kLo)->pmd_mapped);
  FolioId thp = FolioAt(s, kLo);
  ASSERT_TRUE(IsOk(s.munmap(kLo, kP)));
  EXPECT_EQ(s.rss().anon, 511);
  EXPECT_EQ(s.table_counts().pte, 1u);
  ASSERT_NE(FindFolio(s, thp), nullptr);
  EXPECT_EQ(FindFolio(s, thp)->refcount, 511u);
  EXPECT_FALSE(s.page(kLo + kP)->pmd_mapped);
  EXPECT_EQ(s.read(kLo + 5 * kP).value(), 9);
  ExpectInvariants(s);
}

TEST(Munmap, NeedsALiveMm) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmput()));
  EXPECT_TRUE(IsErr(s.munmap(kLo, kP), Errc::kNoUser));
  EXPECT_TRUE(IsErr(s.mmap(AnonAt(kLo, kP)), Errc::kNoUser));
  EXPECT_TRUE(IsErr(s.mprotect(kLo, kP, kR), Errc::kNoUser));
}

// ===========================================================================
// mprotect
// ===========================================================================

TEST(Mprotect, WholeVmaChangesOnlyProtBits) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));  // an anon_vma: the area keeps its charge
  const VmFlags old = s.vma_lookup(kLo)->flags;
  ASSERT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kR | kX)));
  EXPECT_EQ(s.vmas().size(), 1u);
  EXPECT_EQ(s.vma_lookup(kLo)->flags, (old & ~flags::kProtMask) | kR | kX);
}

TEST(Mprotect, AnUnfaultedAnonymousAreaGivesItsChargeBack) {
  // mprotect_fixup: VM_ACCOUNT goes when an anonymous area without an
  // anon_vma stops being writable, and comes back when it is writable again.
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP, kRW));
  ASSERT_NE(s.vma_lookup(kLo)->flags & flags::kAccount, 0u);
  ASSERT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kR)));
  EXPECT_EQ(s.vma_lookup(kLo)->flags & flags::kAccount, 0u);
  ASSERT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kRW)));
  EXPECT_NE(s.vma_lookup(kLo)->flags & flags::kAccount, 0u);
  // Faulted, it keeps the charge when read-only; a private file area
  // always does (it is not anonymous).
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  ASSERT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kR)));
  EXPECT_NE(s.vma_lookup(kLo)->flags & flags::kAccount, 0u);
}

TEST(Mprotect, MiddleSplitsIntoThree) {
  //   kLo                               kLo+6p   file pgoff 3
  //   |------------ RW ------------------|
  //            [== R ==)
  //   |-- RW --|-- R --|------ RW -------|
  //   kLo   kLo+2p  kLo+3p            kLo+6p
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(10), System::Cache::kCold);
  Map(s, FileAt(f, 3, kLo, 6 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.mprotect(kLo + 2 * kP, kP, kR)));
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + 2 * kP},
                               {kLo + 2 * kP, kLo + 3 * kP},
                               {kLo + 3 * kP, kLo + 6 * kP}}));
  EXPECT_EQ(ProtAt(s, kLo), kRW);
  EXPECT_EQ(ProtAt(s, kLo + 2 * kP), kR);
  EXPECT_EQ(ProtAt(s, kLo + 3 * kP), kRW);
  EXPECT_EQ(s.vma_lookup(kLo)->backing.pgoff, 3u);
  EXPECT_EQ(s.vma_lookup(kLo + 2 * kP)->backing.pgoff, 5u);
  EXPECT_EQ(s.vma_lookup(kLo + 3 * kP)->backing.pgoff, 6u);
  ExpectInvariants(s);
}

TEST(Mprotect, SpanningTwoVmasSplitsAtBothEndsAndMergesTheMiddle) {
  //   |------- A (RW) ------|------ B (RWX) ------|
  //              [======= R ========)
  //   |-- RW --|------- R ---------|---- RWX ----|   the two R pieces merge
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  Map(s, AnonAt(kLo + 4 * kP, 4 * kP, kRW | kX));
  ASSERT_EQ(Layout(s), (Ranges{{kLo, kLo + 4 * kP}, {kLo + 4 * kP, kLo + 8 * kP}}));
  ASSERT_TRUE(IsOk(s.mprotect(kLo + 2 * kP, 4 * kP, kR)));
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + 2 * kP},
                               {kLo + 2 * kP, kLo + 6 * kP},
                               {kLo + 6 * kP, kLo + 8 * kP}}));
  EXPECT_EQ(ProtAt(s, kLo + kP), kRW);
  EXPECT_EQ(ProtAt(s, kLo + 3 * kP), kR);
  EXPECT_EQ(ProtAt(s, kLo + 5 * kP), kR);
  EXPECT_EQ(ProtAt(s, kLo + 7 * kP), kRW | kX);
  ExpectInvariants(s);
}

TEST(Mprotect, RestoringTheProtectionMergesTheSplitBack) {
  //   |------------- A (RW) -------------|
  //   after mprotect R on the middle:  |- RW -|- R -|- RW -|
  //   after mprotect RW on the middle: |------ RW --------|
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 6 * kP));
  ASSERT_TRUE(IsOk(s.mprotect(kLo + 2 * kP, 2 * kP, kR)));
  ASSERT_EQ(s.vmas().size(), 3u);
  ASSERT_TRUE(IsOk(s.mprotect(kLo + 2 * kP, 2 * kP, kRW)));
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + 6 * kP}}));
  ExpectInvariants(s);
}

TEST(Mprotect, LengthIsRoundedUp) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 3 * kP));
  ASSERT_TRUE(IsOk(s.mprotect(kLo, 1, kR)));
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + kP}, {kLo + kP, kLo + 3 * kP}}));
  EXPECT_EQ(ProtAt(s, kLo), kR);
  EXPECT_EQ(ProtAt(s, kLo + kP), kRW);
}

TEST(Mprotect, ZeroLengthIsOkAndChangesNothing) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  const System before = s;
  EXPECT_TRUE(IsOk(s.mprotect(kLo, 0, kR)));
  EXPECT_TRUE(IsOk(s.mprotect(kLo + 0x100000, 0, kR))) << "len 0 in a hole";
  EXPECT_EQ(s, before);
}

TEST(Mprotect, EinvalCasesChangeNothing) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  const System before = s;
  EXPECT_TRUE(IsErr(s.mprotect(kLo + 1, kP, kR), Errc::kInval)) << "unaligned";
  EXPECT_TRUE(IsErr(s.mprotect(kLo, kP, flags::kShared), Errc::kInval));
  EXPECT_TRUE(IsErr(s.mprotect(kLo, kP, kR | 0x100), Errc::kInval));
  // Documented order: unaligned start comes before "len 0 -> ok".
  EXPECT_TRUE(IsErr(s.mprotect(kLo + 1, 0, kR), Errc::kInval));
  EXPECT_EQ(s, before);
}

// NOTE: system.h lists "prot outside kProtMask -> EINVAL" before "len 0 ->
// ok" and "end overflows -> ENOMEM", but the kernel's do_mprotect_pkey
// returns 0 for len 0 and ENOMEM for an overflowing end before
// arch_validate_prot. The model follows the kernel; so does this test.
TEST(Mprotect, ZeroLengthAndEndOverflowComeBeforeTheProtCheck) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  const System before = s;
  EXPECT_TRUE(IsOk(s.mprotect(kLo, 0, kR | 0x100)));
  EXPECT_TRUE(IsErr(s.mprotect(kLo, ~std::uint64_t{0} - kP + 1, kR | 0x100),
                    Errc::kNoMem));
  // Unaligned start still comes first.
  EXPECT_TRUE(IsErr(s.mprotect(kLo + 1, 0, kR | 0x100), Errc::kInval));
  EXPECT_EQ(s, before);
}

TEST(Mprotect, EndOverflowIsEnomem) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  const System before = s;
  EXPECT_TRUE(IsErr(s.mprotect(kLo, ~std::uint64_t{0} - kP + 1, kR), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

TEST(Mprotect, StartInAHoleIsEnomemAndChangesNothing) {
  //        hole   |---- A ----|
  //   [====== mprotect ======)
  System s(kLo, kHi);
  Map(s, AnonAt(kLo + kP, 2 * kP));
  const System before = s;
  EXPECT_TRUE(IsErr(s.mprotect(kLo, 3 * kP, kR), Errc::kNoMem));
  EXPECT_TRUE(IsErr(s.mprotect(kLo + 0x100000, kP, kR), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

TEST(Mprotect, HoleAfterFirstVmaKeepsEarlierChanges) {
  //   kLo        +2p   +3p   +4p
  //   |--- A ----|hole |- B -|
  //        [======== R ======)
  //   |-RW-|-R --|     |- RW-|     -> ENOMEM, A already split and changed
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  Map(s, AnonAt(kLo + 3 * kP, kP));
  EXPECT_TRUE(IsErr(s.mprotect(kLo + kP, 3 * kP, kR), Errc::kNoMem));
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + kP},
                               {kLo + kP, kLo + 2 * kP},
                               {kLo + 3 * kP, kLo + 4 * kP}}));
  EXPECT_EQ(ProtAt(s, kLo), kRW);
  EXPECT_EQ(ProtAt(s, kLo + kP), kR);
  EXPECT_EQ(ProtAt(s, kLo + 3 * kP), kRW) << "B is past the hole: unchanged";
  ExpectInvariants(s);
}

TEST(Mprotect, HoleAtTheEndKeepsChanges) {
  //   |--- A ---|  hole
  //   [===== R ======)
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  EXPECT_TRUE(IsErr(s.mprotect(kLo, 3 * kP, kR), Errc::kNoMem));
  EXPECT_EQ(ProtAt(s, kLo), kR);
  EXPECT_EQ(s.vmas().size(), 1u);
}

TEST(Mprotect, WriteWithoutMayWriteIsEaccesAfterEarlierVmasChanged) {
  //   kLo      +1p               +2p
  //   |- A (R) -|- B driver (R, MAYWRITE cleared) -|
  //   [============ mprotect RW ==================)
  //   -> EACCES; A is already RW, B unchanged
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP, kR));
  Map(s, DriverAt(kLo + kP, kP, {VmaNewOp::kSetMixedMap, VmaNewOp::kTryClearMayWrite},
                  kR));
  ASSERT_EQ(s.vma_lookup(kLo + kP)->flags & flags::kMayWrite, 0u);
  const VmFlags b_flags = s.vma_lookup(kLo + kP)->flags;
  EXPECT_TRUE(IsErr(s.mprotect(kLo, 2 * kP, kRW), Errc::kAccess));
  EXPECT_EQ(ProtAt(s, kLo), kRW);
  EXPECT_EQ(s.vma_lookup(kLo + kP)->flags, b_flags);
  ExpectInvariants(s);
}

TEST(Mprotect, EaccesOnlyForTheClearedMayBit) {
  System s(kLo, kHi);
  Map(s, DriverAt(kLo, 2 * kP, {VmaNewOp::kSetMixedMap, VmaNewOp::kTryClearMayWrite},
                  kR));
  const System before = s;
  EXPECT_TRUE(IsErr(s.mprotect(kLo, 2 * kP, kRW), Errc::kAccess));
  EXPECT_TRUE(IsErr(s.mprotect(kLo, kP, kW), Errc::kAccess)) << "no split either";
  EXPECT_EQ(s, before);
  EXPECT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kR | kX)));
  EXPECT_EQ(ProtAt(s, kLo), kR | kX);
  EXPECT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, flags::kNone)));
  EXPECT_EQ(ProtAt(s, kLo), 0u);
}

TEST(Mprotect, SplitFailureIsEnomemWithNothingChanged) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.mprotect(kLo + kP, kP, kR), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

TEST(Mprotect, SplitFailureOnSecondVmaKeepsFirstChanged) {
  //   |- A (R) -|------- B (RX) --------|
  //   [====== mprotect RW ====)            B needs a split: it fails
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP, kR));
  Map(s, AnonAt(kLo + kP, 3 * kP, kR | kX));
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.mprotect(kLo, 2 * kP, kRW), Errc::kNoMem));
  EXPECT_FALSE(s.allocation_failure_armed());
  EXPECT_EQ(ProtAt(s, kLo), kRW);
  EXPECT_EQ(Layout(s), (Ranges{{kLo, kLo + kP}, {kLo + kP, kLo + 4 * kP}}));
  EXPECT_EQ(ProtAt(s, kLo + kP), kR | kX);
}

TEST(Mprotect, WholeVmasNeedNoAllocation) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  s.fail_next_allocation();
  EXPECT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kR)));
  EXPECT_TRUE(s.allocation_failure_armed());
}

TEST(Mprotect, ReadOnlyWriteProtectsPtesAndNeverMakesThemWritable) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 0x42)));
  const FolioId folio = FolioAt(s, kLo);
  ASSERT_TRUE(s.page(kLo)->writable);

  ASSERT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kR)));
  EXPECT_FALSE(s.page(kLo)->writable);
  const System ro = s;
  EXPECT_TRUE(IsErr(s.write(kLo, 1), Errc::kSegv));
  EXPECT_EQ(s, ro);
  EXPECT_EQ(s.read(kLo).value(), 0x42);

  ASSERT_TRUE(IsOk(s.mprotect(kLo, 2 * kP, kRW)));
  EXPECT_FALSE(s.page(kLo)->writable) << "mprotect made an existing PTE writable";
  // The next write faults and reuses the anonymous folio.
  ASSERT_TRUE(IsOk(s.write(kLo, 0x43)));
  EXPECT_TRUE(s.page(kLo)->writable);
  EXPECT_EQ(FolioAt(s, kLo), folio);
  EXPECT_EQ(s.folios().size(), 1u);
  EXPECT_EQ(s.read(kLo).value(), 0x43);
  ExpectInvariants(s);
}

TEST(Mprotect, ProtNoneForbidsReads) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 5)));
  ASSERT_TRUE(IsOk(s.mprotect(kLo, kP, flags::kNone)));
  const System before = s;
  EXPECT_TRUE(IsErr(s.read(kLo), Errc::kSegv));
  EXPECT_EQ(s, before);
  ASSERT_TRUE(IsOk(s.mprotect(kLo, kP, kR)));
  EXPECT_EQ(s.read(kLo).value(), 5);
}

}  // namespace
}  // namespace mmv::model::test
