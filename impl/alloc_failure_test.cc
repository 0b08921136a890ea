// Allocation-failure injection on the impl (model/system.h: the one-shot
// fail_next_allocation fails the next allocation of a VMA, a page table or a
// folio; operations do all their allocations before changing anything, so a
// failure changes nothing). For each allocation point: ENOMEM on both sides
// (or the documented fallback for THP), the impl's state exactly as before,
// the injection consumed, invariants intact, and the same operation then
// succeeding. Leaks are left to the asan preset.

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

using model::test::CachedFolio;
using model::test::FindFolio;

// Drops the pins the test still holds on driver pages (Kernel::alloc_page's
// caller references): a Kernel does not free caller-owned pages.
void ReleasePins(Kernel& k) {
  std::vector<std::pair<FolioId, std::uint32_t>> pinned;
  for (Folio* f : k.driver_pages()) pinned.emplace_back(f->id(), f->pins());
  for (auto [id, n] : pinned)
    for (std::uint32_t i = 0; i < n; ++i) EXPECT_TRUE(IsOk(k.put_page(id)));
}

// Arms the injection, runs `op` (a Twin call, so model and impl run it and
// must agree), and checks the failure was clean; then runs it again
// unarmed and expects success.
template <class Op>
void ExpectEnomemThenOk(Twin& t, Op op) {
  const model::System before = t.observed();
  ASSERT_FALSE(before.allocation_failure_armed());
  t.fail_next_allocation();
  ASSERT_TRUE(t.kernel.allocation_failure_armed());
  EXPECT_TRUE(IsErr(op(), Errc::kNoMem));
  EXPECT_FALSE(t.kernel.allocation_failure_armed()) << "the failed allocation consumed it";
  EXPECT_FALSE(t.model.allocation_failure_armed());
  const model::System after = t.observed();
  EXPECT_TRUE(before == after) << "a failed operation changes nothing:\n"
                               << model::diff(before, after);
  t.ExpectSameState();
  EXPECT_TRUE(IsOk(op())) << "and succeeds once memory is there";
  EXPECT_FALSE(t.kernel.allocation_failure_armed());
  t.ExpectSameState();
}

TEST(ImplAllocFailure, VmaInMmap) {
  Twin t;
  ExpectEnomemThenOk(t, [&] { return t.mmap(AnonAt(kLo, 4 * kP)); });
  ExpectEnomemThenOk(t, [&] { return t.mmap(AnonAnywhere(2 * kP)); });
  // A driver mapping fails before its mmap handler runs.
  ExpectEnomemThenOk(t, [&] { return t.mmap(DriverAt(kLo + 16 * kP, kP)); });
  EXPECT_EQ(t.mm().vmas().size(), 2u) << "the first-fit area merged with its neighbour";
}

TEST(ImplAllocFailure, SplitInMunmap) {
  //   kLo                    kLo+4p
  //   |----[= munmap =)------|    the VMA is cut in two: one new VMA
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(IsOk(t.write(kLo + i * kP, 1)));
  ExpectEnomemThenOk(t, [&] { return t.munmap(kLo + kP, kP); });
  EXPECT_EQ(t.mm().vmas().size(), 2u);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 3}));
}

TEST(ImplAllocFailure, MunmapWithoutSplitDoesNotAllocate) {
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  t.fail_next_allocation();
  EXPECT_TRUE(IsOk(t.munmap(kLo, 4 * kP)));
  EXPECT_TRUE(t.kernel.allocation_failure_armed()) << "still armed";
  t.ExpectSameState();
}

TEST(ImplAllocFailure, SplitInMprotect) {
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(t.write(kLo + kP, 1)));
  ExpectEnomemThenOk(t, [&] { return t.mprotect(kLo + kP, kP, kR); });
  EXPECT_EQ(t.mm().vmas().size(), 3u);
  EXPECT_FALSE(t.observed().page(kLo + kP)->writable);
}

TEST(ImplAllocFailure, PageTableInAnAnonFault) {
  Twin t;
  t.map(AnonAt(kLo, 2 * kP));
  ASSERT_EQ(t.mm().table_counts(), TableCounts{});
  // A read needs the tables for the zero page too.
  ExpectEnomemThenOk(t, [&] { return t.read(kLo); });
  EXPECT_EQ(t.mm().table_counts(), (TableCounts{1, 1, 1}));
}

TEST(ImplAllocFailure, PageTableInAFileFault) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(2), Cache::kWarm);
  t.map(FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ExpectEnomemThenOk(t, [&] { return t.write(kLo, 5); });
}

TEST(ImplAllocFailure, AnonFolio) {
  Twin t;
  t.map(AnonAt(kLo, 2 * kP));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));  // tables exist now
  ExpectEnomemThenOk(t, [&] { return t.write(kLo + kP, 2); });
  EXPECT_EQ(t.mm().rss(), (Rss{0, 2}));
}

TEST(ImplAllocFailure, ThpFallsBackToASmallPage) {
  //   kLo                  kLo+2MiB              kLo+4MiB
  //   |====== THP 0 =======|  fault here: no THP -> 4 KiB page
  // With the upper tables present, the first allocation of the fault is the
  // THP itself; its failure is not an error: the fault falls back to a
  // 4 KiB page (whose PTE table allocation then succeeds).
  Twin t;
  t.map(AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  ASSERT_TRUE(t.observed().page(kLo)->pmd_mapped);
  t.fail_next_allocation();
  EXPECT_TRUE(IsOk(t.write(kLo + kPmdSize + kP, 2)));
  EXPECT_FALSE(t.kernel.allocation_failure_armed());
  const model::System seen = t.observed();
  auto v = seen.page(kLo + kPmdSize + kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->pmd_mapped);
  EXPECT_EQ(FindFolio(seen, v->folio)->order, 0u);
  EXPECT_FALSE(seen.page(kLo + kPmdSize).has_value()) << "only the faulting page";
  EXPECT_EQ(t.mm().rss(), (Rss{0, 513}));
  EXPECT_EQ(t.mm().table_counts(), (TableCounts{1, 1, 1}));
  t.ExpectSameState();
  EXPECT_EQ(t.read(kLo + kPmdSize + kP).value(), 2);
  t.ExpectSameState();
}

TEST(ImplAllocFailure, ThpTablesInAnEmptyTree) {
  // In an empty tree the first allocation is a table: that one is ENOMEM.
  Twin t;
  t.map(AnonAt(kLo, kPmdSize, kRW, flags::kHugePage));
  ExpectEnomemThenOk(t, [&] { return t.write(kLo, 1); });
  EXPECT_TRUE(t.observed().page(kLo)->pmd_mapped);
}

TEST(ImplAllocFailure, PageCacheFolioOnAColdCache) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(2), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.read(kLo)));  // tables exist now; page 1 is still cold
  ExpectEnomemThenOk(t, [&] { return t.read(kLo + kP); });
  EXPECT_NE(CachedFolio(t.observed(), f, 1), 0u);
}

TEST(ImplAllocFailure, CopyOnWriteOfAPrivateFilePage) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.read(kLo)));
  ExpectEnomemThenOk(t, [&] { return t.write(kLo, 9); });
  EXPECT_EQ(t.mm().rss(), (Rss{0, 1})) << "the copy replaced the file page";
  EXPECT_EQ(t.kernel.file_page(f, 0), MarkedPages(1)[0]);
}

TEST(ImplAllocFailure, CopyOfTheZeroPage) {
  Twin t;
  t.map(AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(t.read(kLo)));
  ASSERT_TRUE(t.observed().page(kLo)->zero_page);
  ExpectEnomemThenOk(t, [&] { return t.write(kLo, 9); });
  EXPECT_FALSE(t.observed().page(kLo)->zero_page);
}

TEST(ImplAllocFailure, VmInsertPageTable) {
  Twin t;
  t.map(DriverAt(kLo, 2 * kP));
  auto page = t.alloc_page();
  ASSERT_TRUE(IsOk(page));
  ExpectEnomemThenOk(t, [&] { return t.vm_insert_page(kLo, kLo, page.value()); });
  EXPECT_EQ(FindFolio(t.observed(), page.value())->refcount, 2u);
  ReleasePins(t.kernel);
}

TEST(ImplAllocFailure, AllocPage) {
  Twin t;
  ExpectEnomemThenOk(t, [&] { return t.alloc_page(); });
  EXPECT_EQ(t.kernel.driver_pages().size(), 1u);
  ReleasePins(t.kernel);
}

TEST(ImplAllocFailure, OperationsThatAllocateNothingLeaveTheInjectionArmed) {
  // zap (even when it splits a THP: the PTE table was deposited with it),
  // faults on present or warm pages, writeback.
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kWarm);
  t.map(AnonAt(kLo, kPmdSize, kRW, flags::kHugePage));
  t.map(FileAt(f, 0, kLo + kPmdSize, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  ASSERT_TRUE(IsOk(t.read(kLo + kPmdSize)));  // tables for the file page
  t.fail_next_allocation();
  EXPECT_TRUE(IsOk(t.write(kLo + 5 * kP, 2))) << "present THP";
  EXPECT_TRUE(Zapped(t.zap(kLo, kLo + kP, kP))) << "splits the THP";
  EXPECT_EQ(t.mm().table_counts().pte, 2u);
  EXPECT_TRUE(IsOk(t.write(kLo + kPmdSize, 3))) << "shared write to a present page";
  EXPECT_TRUE(IsOk(t.writeback(f)));
  EXPECT_TRUE(t.kernel.allocation_failure_armed());
  EXPECT_TRUE(t.model.allocation_failure_armed());
  t.ExpectSameState();
  // And the next allocation does fail.
  EXPECT_TRUE(IsErr(t.write(kLo + kP, 4), Errc::kNoMem)) << "the zapped page needs a folio";
  EXPECT_FALSE(t.kernel.allocation_failure_armed());
  t.ExpectSameState();
}

TEST(ImplAllocFailure, RepeatedFailuresLeaveNothingHalfDone) {
  // After a run of failures and retries, nothing is left half-done: every
  // invariant holds and a full teardown leaves no bug behind.
  Twin t;
  const FileId f = t.create_file(MarkedPages(4), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 4 * kP, /*shared=*/false));
  for (int i = 0; i < 4; ++i) {
    t.fail_next_allocation();
    (void)t.write(kLo + i * kP, static_cast<std::uint8_t>(i + 1));  // ENOMEM somewhere
    ASSERT_TRUE(IsOk(t.write(kLo + i * kP, static_cast<std::uint8_t>(i + 1))));
  }
  EXPECT_EQ(t.mm().rss(), (Rss{0, 4}));
  t.ExpectSameState();
  ASSERT_TRUE(IsOk(t.model.mmgrab()));
  ARef<Mm> keep = t.mm().grab();
  ASSERT_TRUE(IsOk(t.model.mmput()));
  t.mmput();
  EXPECT_TRUE(t.kernel.bugs().empty());
  EXPECT_TRUE(t.model == observe(t.kernel, *keep)) << model::diff(t.model, observe(t.kernel, *keep));
  ExpectNoViolations(keep->check_invariants(), "impl invariants after exit");
  ASSERT_TRUE(IsOk(t.model.mmdrop()));
}

}  // namespace
}  // namespace mmv::impl::test
