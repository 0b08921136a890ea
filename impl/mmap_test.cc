// impl's mmap, munmap and mprotect (SPEC.md section 3), driven through Twin
// so that every step is also checked against model::System: same results,
// same state (VMA list, page table, folios, rss, table counts). The cases are
// the rules of model/system.h's mmap/munmap/mprotect comments, one rule per
// test; model/mmap_test.cc holds the model to the same rules.

#include <cstdint>
#include <utility>
#include <vector>

#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

using Ranges = std::vector<std::pair<Addr, Addr>>;

constexpr std::uint64_t kAll = ~std::uint64_t{0};

// MmWithUser::vmas() is an API of its own (not what observe() reads), so it
// is checked against the model's VMA list wherever a test looks at layout.
std::vector<Vma> ImplVmas(Twin& t) {
  std::vector<Vma> impl = t.mm().vmas();
  std::vector<Vma> model;
  for (const auto& [start, v] : t.model.vmas()) model.push_back(v);
  EXPECT_EQ(impl, model) << "MmWithUser::vmas() vs model";
  return impl;
}

Ranges Layout(Twin& t) {
  Ranges out;
  for (const Vma& v : ImplVmas(t)) out.emplace_back(v.start, v.end);
  return out;
}

// The impl's VMA containing `a` (from MmWithUser::vmas()).
Vma VmaAt(Twin& t, Addr a) {
  for (const Vma& v : ImplVmas(t)) {
    if (v.contains(a)) return v;
  }
  ADD_FAILURE() << "no VMA at 0x" << std::hex << a;
  return Vma{};
}

VmFlags ProtAt(Twin& t, Addr a) { return VmaAt(t, a).flags & flags::kProtMask; }

// Full comparison, plus the vmas() API.
void Check(Twin& t) {
  t.ExpectSameState();
  ImplVmas(t);
}

// A call that must fail with `e` and change nothing on either side.
template <class Op>
void ExpectFailsUnchanged(Twin& t, Op op, Errc e, const char* what) {
  SCOPED_TRACE(what);
  const model::System before = t.model;
  EXPECT_TRUE(IsErr(op(), e));
  EXPECT_TRUE(t.model == before) << "the failed call changed the model:\n"
                                 << model::diff(before, t.model);
  Check(t);
}

// ===========================================================================
// mmap errors (system.h: "Errors, in the kernel's order")
// ===========================================================================

class ImplMmapErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = t_.create_file(MarkedPages(2), Cache::kCold);
    // An existing VMA to overlap with.
    t_.map(AnonAt(kExisting, 4 * kP));
  }
  void Expect(const MmapRequest& r, Errc e, const char* what) {
    ExpectFailsUnchanged(t_, [&] { return t_.mmap(r); }, e, what);
  }
  static constexpr Addr kExisting = kLo + 0x10000;
  Twin t_;
  FileId file_ = 0;
};

TEST_F(ImplMmapErrors, EachErrorInIsolation) {
  Expect(AnonAt(kLo, 0), Errc::kInval, "zero length");
  Expect(AnonAnywhere(kAll), Errc::kNoMem, "length rounds past 2^64");
  Expect(AnonAnywhere(kTaskSize), Errc::kNoMem, "length larger than the user range");
  Expect(FileAt(file_, kAll, kLo, kP, true), Errc::kOverflow, "pgoff + pages overflows");
  Expect(AnonAt(kLo, kP, kR | 0x100), Errc::kInval, "prot outside kProtMask");
  Expect(AnonAt(kLo, kP, kRW, flags::kMixedMap), Errc::kInval, "advice MIXEDMAP");
  Expect(AnonAt(kLo, kP, kRW, flags::kHugePage | flags::kNoHugePage), Errc::kInval,
         "advice HUGEPAGE|NOHUGEPAGE");
  auto setup_anon = AnonAt(kLo, kP);
  setup_anon.setup = {VmaNewOp::kSetMixedMap};
  Expect(setup_anon, Errc::kInval, "setup without driver backing");
  auto shared_anon = AnonAt(kLo, kP);
  shared_anon.shared = true;
  Expect(shared_anon, Errc::kInval, "shared anonymous");
  Expect(FileAt(file_ + 100, 0, kLo, kP, true), Errc::kInval, "unknown file");
  Expect(AnonAt(kTaskSize - kP, 2 * kP), Errc::kNoMem, "fixed end past kTaskSize");
  Expect(AnonAt(kLo + 1, kP), Errc::kInval, "fixed unaligned");
  Expect(AnonAt(kMmapMinAddr - kP, kP), Errc::kPerm, "fixed below kMmapMinAddr");
  Expect(AnonAt(kExisting + 3 * kP, 2 * kP), Errc::kExist, "fixed overlaps the last page");
  Expect(AnonAt(kExisting - kP, 6 * kP), Errc::kExist, "fixed covers the VMA");
  Expect(DriverAt(kLo, kP, {VmaNewOp::kSetMixedMap, VmaNewOp::kTryClearMayWrite}, kRW),
         Errc::kInval, "try_clear_maywrite with WRITE set");
  Expect(DriverAt(kLo, kP, {VmaNewOp::kTryClearMayRead}, kR), Errc::kInval,
         "try_clear_mayread with READ set");
  // Adjacent on both sides is not an overlap.
  EXPECT_EQ(t_.map(AnonAt(kExisting - kP, kP, kR)), kExisting - kP);
  EXPECT_EQ(t_.map(AnonAt(kExisting + 4 * kP, kP, kR)), kExisting + 4 * kP);
  Check(t_);
}

TEST_F(ImplMmapErrors, NoGapIsEnomem) {
  Twin tiny(kLo, kLo + 4 * kP);
  ExpectFailsUnchanged(tiny, [&] { return tiny.mmap(AnonAnywhere(5 * kP)); }, Errc::kNoMem,
                       "larger than the window");
  EXPECT_EQ(tiny.map(AnonAnywhere(4 * kP)), kLo);
  ExpectFailsUnchanged(tiny, [&] { return tiny.mmap(AnonAnywhere(kP)); }, Errc::kNoMem,
                       "window full");
}

// Each request has two faults; the one earlier in the kernel's order wins.
TEST_F(ImplMmapErrors, TwoFaultsTheEarlierWins) {
  Expect(AnonAt(kTaskSize, 0), Errc::kInval, "zero length + end past");
  Expect(AnonAt(kLo, kAll, 0x100), Errc::kNoMem, "length rounding + bad prot");
  Expect(FileAt(file_, kAll, kLo, kP, true, 0x100), Errc::kOverflow,
         "pgoff overflow + bad prot");
  Expect(FileAt(file_ + 100, kAll, kLo, kP, true), Errc::kOverflow,
         "pgoff overflow + unknown file");
  Expect(FileAt(file_, kAll, kExisting, kP, true), Errc::kOverflow, "pgoff overflow + overlap");
  Expect(AnonAt(kTaskSize - kP, 2 * kP, 0x100), Errc::kInval, "bad prot + end past");
  auto shared_overlap = AnonAt(kExisting, kP);
  shared_overlap.shared = true;
  Expect(shared_overlap, Errc::kInval, "shared anon + overlap");
  auto setup_below = AnonAt(0, kP);
  setup_below.setup = {VmaNewOp::kSetIo};
  Expect(setup_below, Errc::kInval, "setup on anon + below min");
  Expect(AnonAt(kTaskSize - kP + 1, 2 * kP), Errc::kNoMem, "end past + unaligned");
  Expect(AnonAt(kP + 1, kP), Errc::kInval, "unaligned + below min");
  // [min - 1 page, min + 1 page) with a VMA at min: EPERM before EEXIST.
  t_.map(AnonAt(kMmapMinAddr, kP));
  Expect(AnonAt(kMmapMinAddr - kP, 2 * kP), Errc::kPerm, "below min + overlap");
  Expect(DriverAt(kExisting, kP, {VmaNewOp::kTryClearMayRead}, kR), Errc::kExist,
         "overlap + try_clear");
  Twin tiny(kLo, kLo + kP);
  auto driver = DriverAt(0, 4 * kP, {VmaNewOp::kTryClearMayWrite}, kRW);
  driver.fixed = false;
  ExpectFailsUnchanged(tiny, [&] { return tiny.mmap(driver); }, Errc::kNoMem,
                       "no gap + try_clear");
}

// ===========================================================================
// mmap: placement and the resulting VMA
// ===========================================================================

TEST(ImplMmap, FixedMappingHasTheRequestedRangeAndFlags) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(8), Cache::kCold);
  EXPECT_EQ(t.map(AnonAt(kLo + 4 * kP, 3 * kP + 1, kR, flags::kHugePage)), kLo + 4 * kP);
  EXPECT_EQ(t.map(FileAt(f, 2, kLo + 0x100000, 2 * kP, /*shared=*/true)), kLo + 0x100000);
  const Vma a = VmaAt(t, kLo + 4 * kP);
  EXPECT_EQ(a.end, kLo + 8 * kP) << "length rounded up to pages";
  EXPECT_EQ(a.flags & flags::kProtMask, kR);
  EXPECT_NE(a.flags & flags::kHugePage, 0u);
  EXPECT_EQ(a.flags & flags::kAccount, 0u) << "not writable: not accounted";
  EXPECT_EQ(a.backing.kind, BackingKind::kAnon);
  const Vma s = VmaAt(t, kLo + 0x100000);
  EXPECT_TRUE(s.is_shared());
  EXPECT_NE(s.flags & flags::kMayShare, 0u);
  EXPECT_EQ(s.flags & flags::kAccount, 0u) << "shared: not accounted";
  EXPECT_EQ(s.backing.file, f);
  EXPECT_EQ(s.backing.pgoff, 2u);
  // mmap faults nothing in.
  EXPECT_EQ(t.mm().rss(), Rss{});
  EXPECT_EQ(t.mm().table_counts(), TableCounts{});
  Check(t);
}

TEST(ImplMmap, FirstFitAndHints) {
  //   kLo   +1p   +2p   +3p   +4p   +5p   +6p
  //   |------ A --------|------ B --------|
  //   munmap A; C (2p) fits at kLo, D (2p) not in [kLo+2p, kLo+3p): after B.
  Twin t;
  EXPECT_EQ(t.map(AnonAnywhere(3 * kP, 0, kR)), kLo);
  EXPECT_EQ(t.map(AnonAnywhere(3 * kP, 0, kRW)), kLo + 3 * kP);
  ASSERT_TRUE(IsOk(t.munmap(kLo, 3 * kP)));
  EXPECT_EQ(t.map(AnonAnywhere(2 * kP, 0, kR)), kLo);
  EXPECT_EQ(t.map(AnonAnywhere(2 * kP, 0, kR)), kLo + 6 * kP);
  EXPECT_EQ(t.map(AnonAnywhere(kP, 0, kR)), kLo + 2 * kP);
  Check(t);

  const Addr far = kLo + 0x100000;
  EXPECT_EQ(t.map(AnonAnywhere(2 * kP, far, kR)), far) << "a free hint is used";
  EXPECT_EQ(t.map(AnonAnywhere(kP, far + 2 * kP + 1, kR)), far + 3 * kP)
      << "an unaligned hint is rounded up";
  EXPECT_EQ(t.map(AnonAnywhere(kP, far + kP, kR)), kLo + 8 * kP)
      << "an occupied hint falls back to first fit";
  EXPECT_EQ(t.map(AnonAt(kHi + kP, kP, kR)), kHi + kP)
      << "fixed mappings are not limited to the first-fit window";
  Check(t);
}

// ===========================================================================
// mmap: merging with neighbours (system.h; vmas_mergeable in model/vma.h)
// ===========================================================================

TEST(ImplMmap, AnonymousNeighboursMerge) {
  //   |- A -|  hole  |- B -|     then C fills the hole: one VMA
  Twin t;
  t.map(AnonAt(kLo, kP));
  t.map(AnonAt(kLo + 2 * kP, kP));
  ASSERT_EQ(Layout(t).size(), 2u);
  t.map(AnonAt(kLo + kP, kP));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 3 * kP}}));
  // Different protection: no merge.
  t.map(AnonAt(kLo + 3 * kP, kP, kR));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 3 * kP}, {kLo + 3 * kP, kLo + 4 * kP}}));
  Check(t);
}

TEST(ImplMmap, FileMappingsMergeOnlyAtContiguousOffsets) {
  //   kLo        +2p        +4p   +5p   +6p
  //   |- f 0..1 -|- f 2..3 -|- f 5 -|- g 6 -|
  //   merged ----------------|  gap  |  other file
  Twin t;
  const FileId f = t.create_file(MarkedPages(10), Cache::kCold);
  const FileId g = t.create_file(MarkedPages(10), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  t.map(FileAt(f, 2, kLo + 2 * kP, 2 * kP, /*shared=*/true));
  t.map(FileAt(f, 5, kLo + 4 * kP, kP, /*shared=*/true));
  t.map(FileAt(g, 5, kLo + 5 * kP, kP, /*shared=*/true));
  // Same file and contiguous offset, but private: the flags differ.
  t.map(FileAt(g, 6, kLo + 6 * kP, kP, /*shared=*/false));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 4 * kP},
                               {kLo + 4 * kP, kLo + 5 * kP},
                               {kLo + 5 * kP, kLo + 6 * kP},
                               {kLo + 6 * kP, kLo + 7 * kP}}));
  EXPECT_EQ(VmaAt(t, kLo + 3 * kP).backing.pgoff, 0u);
  Check(t);
}

TEST(ImplMmap, DriverMappingsNeverMerge) {
  Twin t;
  t.map(DriverAt(kLo, kP, {}));
  t.map(DriverAt(kLo + kP, kP, {}));
  t.map(DriverAt(kLo + 2 * kP, kP));  // MIXEDMAP (VM_SPECIAL) as well
  t.map(DriverAt(kLo + 3 * kP, kP));
  EXPECT_EQ(Layout(t).size(), 4u);
  Check(t);
}

TEST(ImplMmap, AccountFlagDecidesMerging) {
  //   |- A (R) -|- B (RW, ACCOUNT) -|
  // B, written (so it has an anon_vma), made read-only keeps ACCOUNT: no
  // merge with A. A made writable is charged too; written (taking B's
  // anon_vma: find_mergeable_anon_vma) and read-only again, it keeps the
  // charge and merges with B.
  Twin t;
  t.map(AnonAt(kLo, kP, kR));
  t.map(AnonAt(kLo + kP, kP, kRW));
  ASSERT_TRUE(IsOk(t.write(kLo + kP, 1)));
  ASSERT_TRUE(IsOk(t.mprotect(kLo + kP, kP, kR)));
  EXPECT_EQ(Layout(t).size(), 2u);
  EXPECT_EQ(VmaAt(t, kLo).flags & flags::kAccount, 0u);
  EXPECT_NE(VmaAt(t, kLo + kP).flags & flags::kAccount, 0u);
  ASSERT_TRUE(IsOk(t.mprotect(kLo, kP, kRW)));
  EXPECT_NE(VmaAt(t, kLo).flags & flags::kAccount, 0u) << "first writable: accounted";
  ASSERT_TRUE(IsOk(t.write(kLo, 2)));
  EXPECT_EQ(VmaAt(t, kLo).anon_vma, VmaAt(t, kLo + kP).anon_vma) << "the neighbour's anon_vma, taken";
  ASSERT_TRUE(IsOk(t.mprotect(kLo, kP, kR)));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 2 * kP}}));
  Check(t);
}

TEST(ImplMmap, AnUnfaultedAnonymousAreaGivesItsChargeBack) {
  //   |- A (R) -|- B (RW, ACCOUNT, never written) -|
  // B made read-only gives its charge back (mprotect_fixup) and merges.
  Twin t;
  t.map(AnonAt(kLo, kP, kR));
  t.map(AnonAt(kLo + kP, kP, kRW));
  ASSERT_TRUE(IsOk(t.mprotect(kLo + kP, kP, kR)));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 2 * kP}}));
  EXPECT_EQ(VmaAt(t, kLo).flags & flags::kAccount, 0u);
  Check(t);
}

TEST(ImplMmap, OnlyCompatibleAnonVmasMerge) {
  //   |- A (anon_vma 1) -|  C  |- B (anon_vma 2) -|
  //   C merges into A; A+C and B keep different anon_vmas: no merge.
  //   |- D (none) -|  E  |- F (anon_vma 3) -|   all three merge, keeping 3.
  Twin t;
  t.map(AnonAt(kLo, kP));
  t.map(AnonAt(kLo + 2 * kP, kP));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  ASSERT_TRUE(IsOk(t.write(kLo + 2 * kP, 2)));
  t.map(AnonAt(kLo + kP, kP));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 2 * kP}, {kLo + 2 * kP, kLo + 3 * kP}}));
  EXPECT_EQ(VmaAt(t, kLo + kP).anon_vma, 1u);
  EXPECT_EQ(VmaAt(t, kLo + 2 * kP).anon_vma, 2u);

  const Addr d = kLo + 0x100000;
  t.map(AnonAt(d, kP));
  t.map(AnonAt(d + 2 * kP, kP));
  ASSERT_TRUE(IsOk(t.write(d + 2 * kP, 3)));
  t.map(AnonAt(d + kP, kP));
  EXPECT_EQ(Layout(t).back(), (std::pair<Addr, Addr>{d, d + 3 * kP}));
  EXPECT_EQ(VmaAt(t, d).anon_vma, 3u);
  EXPECT_EQ(t.read(d + 2 * kP).value(), 3);
  Check(t);
}

// ===========================================================================
// munmap
// ===========================================================================

TEST(ImplMmap, MunmapEinvalCasesChangeNothing) {
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  auto munmap = [&](Addr a, std::uint64_t len) { return [&t, a, len] { return t.munmap(a, len); }; };
  ExpectFailsUnchanged(t, munmap(kLo + 1, kP), Errc::kInval, "unaligned");
  ExpectFailsUnchanged(t, munmap(kLo, 0), Errc::kInval, "zero length");
  ExpectFailsUnchanged(t, munmap(kTaskSize - kP, 2 * kP), Errc::kInval, "past kTaskSize");
  ExpectFailsUnchanged(t, munmap(kTaskSize, kP), Errc::kInval, "at kTaskSize");
  ExpectFailsUnchanged(t, munmap(kLo, kAll - kLo), Errc::kInval, "wraps");
}

TEST(ImplMmap, MunmapHolesAreFine) {
  //   |- A -|  hole  |- B -|  hole
  //   [=========== munmap ==========)
  Twin t;
  t.map(AnonAt(kLo, kP));
  t.map(AnonAt(kLo + 2 * kP, kP, kR));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  EXPECT_TRUE(IsOk(t.munmap(kLo, 4 * kP)));
  EXPECT_TRUE(Layout(t).empty());
  EXPECT_TRUE(IsOk(t.munmap(kLo + 0x100000, 16 * kP))) << "nothing mapped at all";
  EXPECT_EQ(t.mm().rss(), Rss{});
  Check(t);
}

TEST(ImplMmap, MunmapSplitsAtBothEnds) {
  //   kLo                                     kLo+8p
  //   |------------- anon, pages tagged ------|
  //             [==== munmap ====)
  //   |-- A' --|                 |--- B' ----|
  //   kLo     kLo+2p          kLo+6p
  Twin t;
  t.map(AnonAt(kLo, 8 * kP));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(IsOk(t.write(kLo + i * kP, 0x10 + i)));
  ASSERT_TRUE(IsOk(t.munmap(kLo + 2 * kP, 4 * kP)));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 2 * kP}, {kLo + 6 * kP, kLo + 8 * kP}}));
  EXPECT_EQ(t.mm().rss(), (Rss{0, 4}));
  EXPECT_EQ(t.read(kLo + kP).value(), 0x11);
  EXPECT_EQ(t.read(kLo + 6 * kP).value(), 0x16);
  EXPECT_TRUE(IsErr(t.read(kLo + 2 * kP), Errc::kSegv));
  // Both halves keep the anon_vma.
  EXPECT_EQ(VmaAt(t, kLo).anon_vma, VmaAt(t, kLo + 6 * kP).anon_vma);
  Check(t);

  // A file VMA: the tail's offset moves with its start.
  const FileId f = t.create_file(MarkedPages(20), Cache::kWarm);
  const Addr m = kLo + 0x100000;
  t.map(FileAt(f, 10, m, 8 * kP, /*shared=*/false, kR));
  ASSERT_TRUE(IsOk(t.munmap(m + kP, kP)));
  EXPECT_EQ(VmaAt(t, m).backing.pgoff, 10u);
  EXPECT_EQ(VmaAt(t, m + 2 * kP).backing.pgoff, 12u);
  EXPECT_EQ(t.read(m + 2 * kP).value(), MarkedPages(20)[12].get(0));
  Check(t);
}

TEST(ImplMmap, MunmapAcrossTwoVmasCutsBoth) {
  //   |------ A anon ------|------ B file -------|
  //              [======= munmap ======)
  Twin t;
  const FileId f = t.create_file(MarkedPages(4), Cache::kWarm);
  t.map(AnonAt(kLo, 4 * kP));
  t.map(FileAt(f, 0, kLo + 4 * kP, 4 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + 3 * kP, 1)));
  ASSERT_TRUE(IsOk(t.read(kLo + 4 * kP)));  // fault-around maps all of B
  ASSERT_EQ(t.mm().rss(), (Rss{4, 1}));
  ASSERT_TRUE(IsOk(t.munmap(kLo + 2 * kP, 4 * kP)));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 2 * kP}, {kLo + 6 * kP, kLo + 8 * kP}}));
  EXPECT_EQ(VmaAt(t, kLo + 6 * kP).backing.pgoff, 2u);
  EXPECT_EQ(t.mm().rss(), (Rss{2, 0}));
  Check(t);
}

TEST(ImplMmap, MunmapFreesTablesNoVmaCoversAnyMore) {
  //   GiB 0: kLo |- A -|- B -|   ...   kLo+2MiB |- C -|
  //   GiB 1:                     kFar |- D -|
  Twin t;
  const Addr far = kLo + kPudSize;
  t.map(AnonAt(kLo, kP));
  t.map(AnonAt(kLo + kP, kP, kR));
  t.map(AnonAt(kLo + kPmdSize, kP));
  t.map(AnonAt(far, kP));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  ASSERT_TRUE(IsOk(t.read(kLo + kP)));
  ASSERT_TRUE(IsOk(t.write(kLo + kPmdSize, 3)));
  ASSERT_TRUE(IsOk(t.write(far, 4)));
  auto expect_tables = [&](TableCounts want, const char* what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(t.mm().table_counts(), want);
    EXPECT_EQ(t.model.table_counts(), want);
    Check(t);
  };
  expect_tables({3, 2, 1}, "all faulted");
  ASSERT_TRUE(IsOk(t.munmap(kLo, kP)));
  expect_tables({3, 2, 1}, "B still covers the first PTE table");
  ASSERT_TRUE(IsOk(t.munmap(kLo + kP, kP)));
  expect_tables({2, 2, 1}, "first PTE table uncovered");
  ASSERT_TRUE(IsOk(t.munmap(far, kP)));
  expect_tables({1, 1, 1}, "GiB 1 uncovered: its PTE and PMD tables go");
  // A VMA without any page still covers its tables.
  t.map(AnonAt(kLo + kPmdSize + kP, kP));
  ASSERT_TRUE(IsOk(t.munmap(kLo + kPmdSize, kP)));
  expect_tables({1, 1, 1}, "an empty VMA keeps the tables");
  ASSERT_TRUE(IsOk(t.munmap(kLo, kPudSize)));
  expect_tables({0, 0, 0}, "everything gone");
  EXPECT_EQ(t.mm().rss(), Rss{});
  EXPECT_TRUE(t.observed().folios().empty());
}

TEST(ImplMmap, MunmapPartOfAThpSplitsItWholeBlockRemovesIt) {
  //   kLo                kLo+2MiB            kLo+4MiB
  //   |--- THP 1 --------|--- THP 2 ---------|
  //   [x) munmap one page: THP 1 split, 511 PTEs left
  //                      [====== munmap ====) THP 2 removed whole
  Twin t;
  t.map(AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.write(kLo + 5 * kP, 9)));
  ASSERT_TRUE(IsOk(t.write(kLo + kPmdSize, 8)));
  ASSERT_EQ(t.observed().page_table().pmd_leaves.size(), 2u);
  const FolioId thp = t.observed().page(kLo)->folio;
  ASSERT_TRUE(IsOk(t.munmap(kLo, kP)));
  model::System seen = t.observed();
  EXPECT_EQ(seen.page_table().pmd_leaves.size(), 1u);
  EXPECT_FALSE(seen.page(kLo + kP)->pmd_mapped);
  EXPECT_EQ(seen.page(kLo + kP)->folio, thp);
  EXPECT_EQ(seen.folios().at(thp).refcount, 511u);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 1024 - 1}));
  EXPECT_EQ(t.mm().table_counts().pte, 1u);
  EXPECT_EQ(t.read(kLo + 5 * kP).value(), 9);
  Check(t);

  ASSERT_TRUE(IsOk(t.munmap(kLo + kPmdSize, kPmdSize)));
  seen = t.observed();
  EXPECT_TRUE(seen.page_table().pmd_leaves.empty());
  EXPECT_EQ(seen.folios().size(), 1u) << "the second THP is freed";
  EXPECT_EQ(t.mm().rss(), (Rss{0, 511}));
  Check(t);
}

// ===========================================================================
// mprotect
// ===========================================================================

TEST(ImplMmap, MprotectEarlyChecksChangeNothing) {
  Twin t;
  t.map(AnonAt(kLo, 2 * kP));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  auto mprotect = [&](Addr a, std::uint64_t len, VmFlags prot) {
    return [&t, a, len, prot] { return t.mprotect(a, len, prot); };
  };
  ExpectFailsUnchanged(t, mprotect(kLo + 1, kP, kR), Errc::kInval, "unaligned");
  ExpectFailsUnchanged(t, mprotect(kLo + 1, 0, kR), Errc::kInval, "unaligned before len 0");
  ExpectFailsUnchanged(t, mprotect(kLo, kAll - kP + 1, kR), Errc::kNoMem, "end overflows");
  ExpectFailsUnchanged(t, mprotect(kLo, kAll - kP + 1, 0x100), Errc::kNoMem,
                       "end overflow before bad prot");
  ExpectFailsUnchanged(t, mprotect(kLo, kP, kR | 0x100), Errc::kInval, "bad prot");
  ExpectFailsUnchanged(t, mprotect(kLo - kP, 2 * kP, kR), Errc::kNoMem, "starts in a hole");
  ExpectFailsUnchanged(t, mprotect(kLo + 0x100000, kP, kR), Errc::kNoMem, "all hole");
  const model::System before = t.model;
  EXPECT_TRUE(IsOk(t.mprotect(kLo, 0, kR)));
  EXPECT_TRUE(IsOk(t.mprotect(kLo + 0x100000, 0, kR | 0x100))) << "len 0 comes first";
  EXPECT_TRUE(t.model == before);
  Check(t);
}

TEST(ImplMmap, MprotectHoleKeepsTheEarlierChanges) {
  //   kLo        +2p   +3p   +4p
  //   |--- A ----|hole |- B -|
  //        [======== R ======)
  //   |-RW-|-R --|     |- RW-|     -> ENOMEM, A already split and changed
  Twin t;
  t.map(AnonAt(kLo, 2 * kP));
  t.map(AnonAt(kLo + 3 * kP, kP));
  EXPECT_TRUE(IsErr(t.mprotect(kLo + kP, 3 * kP, kR), Errc::kNoMem));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + kP},
                               {kLo + kP, kLo + 2 * kP},
                               {kLo + 3 * kP, kLo + 4 * kP}}));
  EXPECT_EQ(ProtAt(t, kLo), kRW);
  EXPECT_EQ(ProtAt(t, kLo + kP), kR);
  EXPECT_EQ(ProtAt(t, kLo + 3 * kP), kRW) << "past the hole: unchanged";
  Check(t);
}

TEST(ImplMmap, MprotectEaccesKeepsTheEarlierChanges) {
  //   kLo      +1p               +2p
  //   |- A (R) -|- B driver (R, MAYWRITE cleared) -|
  //   [============ mprotect RW ==================)  -> EACCES; A is RW
  Twin t;
  t.map(AnonAt(kLo, kP, kR));
  t.map(DriverAt(kLo + kP, kP, {VmaNewOp::kSetMixedMap, VmaNewOp::kTryClearMayWrite}, kR));
  const VmFlags b = VmaAt(t, kLo + kP).flags;
  ASSERT_EQ(b & flags::kMayWrite, 0u);
  EXPECT_TRUE(IsErr(t.mprotect(kLo, 2 * kP, kRW), Errc::kAccess));
  EXPECT_EQ(ProtAt(t, kLo), kRW);
  EXPECT_EQ(VmaAt(t, kLo + kP).flags, b);
  Check(t);
  // Without a MAY bit only the matching access is refused.
  EXPECT_TRUE(IsOk(t.mprotect(kLo + kP, kP, kR | kX)));
  EXPECT_TRUE(IsOk(t.mprotect(kLo + kP, kP, flags::kNone)));
  EXPECT_EQ(ProtAt(t, kLo + kP), 0u);
  Check(t);
}

TEST(ImplMmap, MprotectSplitsAndMergesBack) {
  //   kLo                               kLo+6p   file pgoff 3, private
  //   |------------ RW ------------------|
  //            [== R ==)
  //   |-- RW --|-- R --|------ RW -------|     then RW again: one VMA
  Twin t;
  const FileId f = t.create_file(MarkedPages(10), Cache::kWarm);
  t.map(FileAt(f, 3, kLo, 6 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.mprotect(kLo + 2 * kP, kP, kR)));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 2 * kP},
                               {kLo + 2 * kP, kLo + 3 * kP},
                               {kLo + 3 * kP, kLo + 6 * kP}}));
  EXPECT_EQ(VmaAt(t, kLo + 2 * kP).backing.pgoff, 5u);
  EXPECT_EQ(VmaAt(t, kLo + 3 * kP).backing.pgoff, 6u);
  EXPECT_EQ(ProtAt(t, kLo + 2 * kP), kR);
  Check(t);
  ASSERT_TRUE(IsOk(t.mprotect(kLo + 2 * kP, kP, kRW)));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 6 * kP}}));
  Check(t);
}

TEST(ImplMmap, MprotectAcrossTwoVmasMergesTheMiddle) {
  //   |------- A (RW) ------|------ B (RWX) ------|
  //              [======= R ========)
  //   |-- RW --|------- R ---------|---- RWX ----|
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  t.map(AnonAt(kLo + 4 * kP, 4 * kP, kRW | kX));
  ASSERT_TRUE(IsOk(t.mprotect(kLo + 2 * kP, 4 * kP, kR)));
  EXPECT_EQ(Layout(t), (Ranges{{kLo, kLo + 2 * kP},
                               {kLo + 2 * kP, kLo + 6 * kP},
                               {kLo + 6 * kP, kLo + 8 * kP}}));
  EXPECT_EQ(ProtAt(t, kLo + 5 * kP), kR);
  EXPECT_EQ(ProtAt(t, kLo + 7 * kP), kRW | kX);
  Check(t);
}

TEST(ImplMmap, MprotectWriteProtectsAndNeverMakesWritable) {
  // An anonymous page and a shared file page, both written (writable PTEs).
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kWarm);
  t.map(AnonAt(kLo, kP));
  t.map(FileAt(f, 0, kLo + kP, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo, 0x42)));
  ASSERT_TRUE(IsOk(t.write(kLo + kP, 0x43)));
  const FolioId anon = t.observed().page(kLo)->folio;
  const FolioId cache = t.observed().page(kLo + kP)->folio;
  ASSERT_TRUE(t.observed().page(kLo)->writable);

  ASSERT_TRUE(IsOk(t.mprotect(kLo, 2 * kP, kR)));
  EXPECT_FALSE(t.observed().page(kLo)->writable);
  EXPECT_FALSE(t.observed().page(kLo + kP)->writable);
  ExpectFailsUnchanged(t, [&] { return t.write(kLo, 1); }, Errc::kSegv, "anon read-only");
  ExpectFailsUnchanged(t, [&] { return t.write(kLo + kP, 1); }, Errc::kSegv, "file read-only");

  ASSERT_TRUE(IsOk(t.mprotect(kLo, 2 * kP, kRW)));
  model::System seen = t.observed();
  EXPECT_FALSE(seen.page(kLo)->writable) << "mprotect made an existing PTE writable";
  EXPECT_FALSE(seen.page(kLo + kP)->writable);
  ASSERT_TRUE(IsOk(t.writeback(f)));
  ASSERT_FALSE(t.observed().folios().at(cache).dirty);
  // The next writes fault: the anonymous folio is reused, the shared file
  // folio made writable and dirty again (write-notify).
  ASSERT_TRUE(IsOk(t.write(kLo, 0x44)));
  ASSERT_TRUE(IsOk(t.write(kLo + kP, 0x45)));
  seen = t.observed();
  EXPECT_TRUE(seen.page(kLo)->writable);
  EXPECT_EQ(seen.page(kLo)->folio, anon);
  EXPECT_TRUE(seen.page(kLo + kP)->writable);
  EXPECT_EQ(seen.page(kLo + kP)->folio, cache);
  EXPECT_TRUE(seen.folios().at(cache).dirty);
  EXPECT_EQ(seen.folios().size(), 2u);
  Check(t);
}

TEST(ImplMmap, MprotectPartOfAThpSplitsIt) {
  Twin t;
  t.map(AnonAt(kLo, kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  ASSERT_EQ(t.observed().page_table().pmd_leaves.size(), 1u);
  ASSERT_TRUE(IsOk(t.mprotect(kLo + kP, kP, kR)));
  const model::System seen = t.observed();
  EXPECT_TRUE(seen.page_table().pmd_leaves.empty());
  EXPECT_EQ(t.mm().table_counts().pte, 1u);
  EXPECT_TRUE(seen.page(kLo)->writable);
  EXPECT_FALSE(seen.page(kLo + kP)->writable);
  EXPECT_TRUE(seen.page(kLo + 2 * kP)->writable);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 512}));
  EXPECT_EQ(Layout(t).size(), 3u);
  Check(t);
}

}  // namespace
}  // namespace mmv::impl::test
