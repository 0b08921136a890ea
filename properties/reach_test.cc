// The reach table (properties/reach.h) counts what a command really hit,
// and reports a possible cell it never saw: the check in
// stateful_props.cc can fail.
#include "properties/reach.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "testing/model_runner.h"

namespace mmv::props {
namespace {

using cmd::Command;
using cmd::Op;

constexpr VmFlags kRw = flags::kRead | flags::kWrite;

Command mmap_at(Addr a, std::uint64_t len, VmFlags advice = 0) {
  Command c;
  c.op = Op::kMmap;
  c.mmap.fixed = true;
  c.mmap.addr = a;
  c.mmap.length = len;
  c.mmap.prot = kRw;
  c.mmap.advice = advice;
  return c;
}

Command at(Op op, Addr a, std::uint64_t len = 0) {
  Command c;
  c.op = op;
  c.addr = a;
  c.addr2 = a;
  c.len = len;
  c.value = 7;
  return c;
}

// Runs `c` on `m` after counting it, as the state machine does.
void run(Reach& r, cmd::ModelRunner& m, const Command& c) {
  r.count(c, m.system());
  (void)m.apply(c);
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(Reach, NothingCountedMeansEveryPossibleCellIsMissing) {
  const Reach r;
  EXPECT_EQ(static_cast<int>(r.missing().size()), r.possible_cells());
  EXPECT_GT(r.possible_cells(), 100);
  EXPECT_NE(r.table().find("never hit:"), std::string::npos);
}

TEST(Reach, AStoreThenALoadHitTheDirtyAnonymousPage) {
  Reach r;
  cmd::ModelRunner m;
  const Addr a = cmd::kWindowLo;
  run(r, m, mmap_at(a, 4 * kPageSize));
  run(r, m, at(Op::kWrite, a));
  run(r, m, at(Op::kRead, a));
  EXPECT_EQ(r.at(Op::kMmap, Hit::kNoVma, Met::kAny), 1u);  // over nothing
  EXPECT_EQ(r.at(Op::kWrite, Hit::kEmpty, Met::kAny), 1u);  // a VMA, nothing mapped yet
  EXPECT_EQ(r.at(Op::kRead, Hit::kAnon, Met::kAny), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kAnon, Met::kDirty), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kAnon, Met::kWriteProtected), 0u);
  EXPECT_FALSE(has(r.missing(), "read/anon/dirty"));
  EXPECT_TRUE(has(r.missing(), "read/anon/wp"));
}

TEST(Reach, APartialZapOfAHugePageIsPartial) {
  Reach r;
  cmd::ModelRunner m;
  const Addr a = cmd::kWindowLo;
  run(r, m, mmap_at(a, kPmdSize, flags::kHugePage));
  run(r, m, at(Op::kWrite, a));
  ASSERT_EQ(m.system().page_table().pmd_leaves.size(), 1u) << "the write should have mapped a THP";
  Command zap = at(Op::kZap, a, 3 * kPageSize);
  run(r, m, zap);
  EXPECT_EQ(r.at(Op::kZap, Hit::kThp, Met::kPartial), 1u);
  EXPECT_EQ(r.at(Op::kZap, Hit::kThp, Met::kDirty), 1u);
}

TEST(Reach, EveryCommandAfterTheLastUserIsTeardown) {
  Reach r;
  cmd::ModelRunner m;
  Command put;
  put.op = Op::kMmput;
  run(r, m, put);
  run(r, m, at(Op::kRead, cmd::kWindowLo));
  EXPECT_EQ(r.at(Op::kMmput, Hit::kNone, Met::kAny), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kNone, Met::kTeardown), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kNoVma, Met::kAny), 0u);
}

TEST(Reach, ImpossibleCellsAreNotAskedFor) {
  EXPECT_FALSE(possible(Op::kRead, Hit::kZero, Met::kDirty));       // never writable
  EXPECT_FALSE(possible(Op::kRead, Hit::kThp, Met::kPartial));      // not a range
  EXPECT_FALSE(possible(Op::kMmput, Hit::kNone, Met::kTeardown));   // needs a user
  EXPECT_FALSE(possible(Op::kVmaLookup, Hit::kAnon, Met::kDirty));  // reads no entry
  EXPECT_TRUE(possible(Op::kZap, Hit::kDriver, Met::kDirty));       // dirty PTE, clean folio
  EXPECT_TRUE(possible(Op::kZap, Hit::kThp, Met::kPartial));
}

// ---- The sizes table --------------------------------------------------------

constexpr Addr kP = kPageSize;

// Runs `c` on `m`, counting its size cells with the TLBs `tlb` held.
std::string run_sized(Reach& r, cmd::ModelRunner& m, const Command& c, const TlbView& tlb = {}) {
  const model::System before = m.system();
  const std::string out = m.apply(c);
  r.count_sizes(c, before, m.system(), out, tlb);
  return out;
}

TEST(ReachSizes, APopulateAcrossATableBoundaryOfMoreThanATable) {
  Reach r;
  cmd::ModelRunner m;
  const Addr lo = cmd::kWindowLo + kPmdSize - 300 * kP;
  ASSERT_EQ(run_sized(r, m, mmap_at(lo, 600 * kP)), "ok 0x400d4000");
  EXPECT_EQ(r.at(Op::kMmap, Size::kAcross2M), 1u);
  EXPECT_EQ(r.at(Op::kMmap, Size::kAcross1G), 0u);
  ASSERT_EQ(run_sized(r, m, at(Op::kPopulate, lo, 600 * kP)), "ok");
  EXPECT_EQ(r.at(Op::kPopulate, Size::kAcross2M), 1u);
  EXPECT_EQ(r.at(Op::kPopulate, Size::kOverBatch), 1u);
  EXPECT_EQ(r.at(Op::kPopulate, Size::kOverTable), 1u);
  // Again: nothing is faulted in now.
  ASSERT_EQ(run_sized(r, m, at(Op::kPopulate, lo, 600 * kP)), "ok");
  EXPECT_EQ(r.at(Op::kPopulate, Size::kOverBatch), 1u);
  EXPECT_EQ(r.at(Op::kPopulate, Size::kAcross2M), 2u);
}

TEST(ReachSizes, OnlyAnAreaOnBothSidesOfTheGigabyteCounts) {
  Reach r;
  cmd::ModelRunner m;
  const Addr lo = cmd::kWindowLo - 4 * kP;
  ASSERT_EQ(run_sized(r, m, mmap_at(lo, 4 * kP)), "ok 0x3fffc000");
  EXPECT_EQ(r.at(Op::kMmap, Size::kAcross1G), 0u) << "it ends at the boundary";
  ASSERT_EQ(run_sized(r, m, at(Op::kMunmap, lo, 8 * kP)), "ok");
  EXPECT_EQ(r.at(Op::kMunmap, Size::kAcross1G), 0u) << "nothing above it";
  ASSERT_EQ(run_sized(r, m, mmap_at(lo, 8 * kP)), "ok 0x3fffc000");
  EXPECT_EQ(r.at(Op::kMmap, Size::kAcross1G), 1u);
  EXPECT_EQ(r.at(Op::kMmap, Size::kAcross2M), 1u) << "a 1 GiB boundary is a 2 MiB one too";
}

TEST(ReachSizes, AZapCountsOnlyATranslationPastItsFirstBatch) {
  cmd::ModelRunner m;
  const Addr lo = cmd::kWindowLo;
  ASSERT_EQ(m.apply(mmap_at(lo, 300 * kP)), "ok 0x40000000");
  ASSERT_EQ(m.apply(at(Op::kRead, lo + 5 * kP)), "ok 0");  // the zero page: not gathered
  ASSERT_EQ(m.apply(at(Op::kPopulate, lo + 10 * kP, 290 * kP)), "ok");
  // Gathered: pages 10..299, the 128th is page 137.
  const std::vector<Addr> past = pages_past_first_batch(m.system(), lo, lo + 300 * kP);
  ASSERT_FALSE(past.empty());
  EXPECT_EQ(past.front(), lo + 138 * kP);
  EXPECT_EQ(past.size(), 162u);
  EXPECT_TRUE(pages_past_first_batch(m.system(), lo, lo + 100 * kP).empty());

  Reach r;
  cmd::ModelRunner first = m;
  ASSERT_EQ(run_sized(r, first, at(Op::kZap, lo, 300 * kP), {{}, {lo + 137 * kP}}), "zapped");
  EXPECT_EQ(r.at(Op::kZap, Size::kBatchTlb), 0u) << "page 137 is in the first batch";
  cmd::ModelRunner second = m;
  ASSERT_EQ(run_sized(r, second, at(Op::kZap, lo, 300 * kP), {{}, {}, {lo + 137 * kP, lo + 138 * kP}}), "zapped");
  EXPECT_EQ(r.at(Op::kZap, Size::kBatchTlb), 1u);
  Command unmap = at(Op::kMunmap, lo, 300 * kP);
  ASSERT_EQ(run_sized(r, m, unmap, {{lo + 299 * kP}}), "ok");
  EXPECT_EQ(r.at(Op::kMunmap, Size::kBatchTlb), 1u);
}

TEST(ReachSizes, AnAccessEvictsAnotherPageOfItsTlbSet) {
  Reach r;
  cmd::ModelRunner m;
  const Addr lo = cmd::kWindowLo;
  ASSERT_EQ(m.apply(mmap_at(lo, 64 * kP)), "ok 0x40000000");
  Command read = at(Op::kRead, lo + 33 * kP);
  read.cpu = 2;
  (void)run_sized(r, m, read, {{lo + kP}, {}, {lo + 2 * kP}});
  EXPECT_EQ(r.at(Op::kRead, Size::kTlbEvict), 0u) << "CPU 2's slot for page 33 held page 1 of CPU 0 only";
  (void)run_sized(r, m, read, {{}, {}, {lo + kP}});
  EXPECT_EQ(r.at(Op::kRead, Size::kTlbEvict), 1u);
  (void)run_sized(r, m, read, {{}, {}, {lo + 33 * kP}});
  EXPECT_EQ(r.at(Op::kRead, Size::kTlbEvict), 1u) << "a hit evicts nothing";
}

TEST(ReachSizes, ImpossibleCellsAreNotAskedFor) {
  EXPECT_TRUE(possible(Op::kPopulate, Size::kOverTable));
  EXPECT_FALSE(possible(Op::kZap, Size::kOverTable));
  EXPECT_TRUE(possible(Op::kMunmap, Size::kBatchTlb));
  EXPECT_FALSE(possible(Op::kMprotect, Size::kBatchTlb));  // no gather
  EXPECT_FALSE(possible(Op::kRead, Size::kAcross2M));      // not a range
  EXPECT_TRUE(possible(Op::kWrite, Size::kTlbEvict));
  const Reach r;
  EXPECT_NE(r.table().find("reach sizes: "), std::string::npos);
  EXPECT_TRUE(has(r.missing(), "zap/batch+tlb"));
}

}  // namespace
}  // namespace mmv::props
