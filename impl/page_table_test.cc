// impl::PageTables (impl/page_table.h) on its own, without an Mm, and the
// MmuGather (impl/mmu_gather.h) that defers folio frees past the TLB flush.
//
// The addresses below sit in PGD slot 0; A is the start of PUD slot 1, so
// "A + k * kPmdSize" are neighbouring PMD slots of one PMD table and
// "A + kPudSize" starts the next PMD table under the same PUD table:
//
//   PGD[0] -> PUD table -> [1] PMD table T1 -> [0] PTE table  (A)
//                                           -> [1] PTE table  (A + 2M)
//                                           -> [5] PTE table  (A + 10M)
//                       -> [2] PMD table T2 -> [0] PTE table  (A + 1G)

#include "impl/page_table.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "impl/kernel.h"
#include "impl/mm.h"
#include "impl/mmu_gather.h"

namespace mmv::impl::test {
namespace {

constexpr Addr A = kPudSize;
constexpr Addr kP = kPageSize;

struct Counts {
  std::int64_t pte, pmd, pud;
  bool operator==(const Counts&) const = default;
};
void PrintTo(const Counts& c, std::ostream* os) {
  *os << "{pte=" << c.pte << ", pmd=" << c.pmd << ", pud=" << c.pud << "}";
}
Counts CountsOf(const PageTables& pt) {
  return {pt.nr_pte_tables(), pt.nr_pmd_tables(), pt.nr_pud_tables()};
}
// The tables actually linked into the tree, as walk() finds them.
Counts Linked(const PageTables& pt) {
  Counts c{0, 0, 0};
  pt.walk([](Addr, Pte) {}, [](Addr, Pmd) {},
          [&c](int level, Addr) { ++(level == 1 ? c.pte : level == 2 ? c.pmd : c.pud); });
  return c;
}

// A covered() callback for free_uncovered: the spans of some pretend VMAs.
auto CoveredBy(std::vector<std::pair<Addr, Addr>> vmas) {
  return [vmas = std::move(vmas)](Addr lo, Addr hi) {
    for (const auto& [s, e] : vmas)
      if (s < hi && lo < e) return true;
    return false;
  };
}
const auto kNothingCovered = [](Addr, Addr) { return false; };

// Puts a THP leaf into the PMD slot of `a`, as the THP fault path does.
void InstallLeaf(PageTables& pt, Addr a, Folio* f) {
  PmdTable* pmd = pt.ensure_pmd_table(a);
  MutexLock g(pmd->lock());
  pmd->set(pmd_index(a), Pmd::leaf(f, /*writable=*/true, /*dirty=*/false, /*young=*/true));
}
void ClearLeaf(PageTables& pt, Addr a) {
  PmdTable* pmd = pt.pmd_table(a);
  MutexLock g(pmd->lock());
  pmd->set(pmd_index(a), Pmd());
}

// ---- Index arithmetic and entry encoding -----------------------------------

TEST(ImplPageTables, IndicesPickTheRightSlotAtEachLevel) {
  const Addr a = 3 * kPgdSize + 2 * kPudSize + 5 * kPmdSize + 7 * kP + 123;
  EXPECT_EQ(pgd_index(a), 3u);
  EXPECT_EQ(pud_index(a), 2u);
  EXPECT_EQ(pmd_index(a), 5u);
  EXPECT_EQ(pte_index(a), 7u);
  EXPECT_EQ(pte_index(A - kP), 511u);
  EXPECT_EQ(pmd_index(A - kP), 511u);
}

TEST(ImplPageTables, PteRoundTripsPageAndEveryBitCombination) {
  auto folio = std::make_unique<Folio>(1, FolioKind::kAnon, 9, 1);
  for (Page* page : {&folio->page(0), &folio->page(511), &Page::zero_page()}) {
    for (int bits = 0; bits < 8; ++bits) {
      const bool w = bits & 1, d = bits & 2, y = bits & 4;
      const Pte p = Pte::make(page, w, d, y);
      EXPECT_FALSE(p.none());
      EXPECT_EQ(p.page(), page);
      EXPECT_EQ(p.writable(), w);
      EXPECT_EQ(p.dirty(), d);
      EXPECT_EQ(p.young(), y);
      const Pte q = Pte::from_raw(p.raw());
      EXPECT_EQ(q.raw(), p.raw());
      EXPECT_EQ(q.page(), page);
    }
  }
  const Pte p = Pte::make(&folio->page(3), false, false, false);
  const Pte dirty = p.with(Pte::kDirty | Pte::kYoung);
  EXPECT_TRUE(dirty.dirty());
  EXPECT_TRUE(dirty.young());
  EXPECT_FALSE(dirty.writable());
  EXPECT_EQ(dirty.page(), &folio->page(3));
  const Pte clean = dirty.without(Pte::kDirty);
  EXPECT_FALSE(clean.dirty());
  EXPECT_TRUE(clean.young());
  EXPECT_EQ(clean.page(), &folio->page(3));
  EXPECT_TRUE(Pte().none());
  EXPECT_EQ(Pte().page(), nullptr);
}

TEST(ImplPageTables, PmdTellsTablesFromLeavesAndRoundTripsBits) {
  auto folio = std::make_unique<Folio>(1, FolioKind::kAnon, 9, 1);
  PteTable table;
  const Pmd t = Pmd::table(&table);
  EXPECT_FALSE(t.none());
  EXPECT_FALSE(t.is_leaf());
  EXPECT_EQ(t.pte_table(), &table);
  EXPECT_EQ(t.folio(), nullptr);
  for (int bits = 0; bits < 8; ++bits) {
    const bool w = bits & 1, d = bits & 2, y = bits & 4;
    const Pmd l = Pmd::leaf(folio.get(), w, d, y);
    EXPECT_TRUE(l.is_leaf());
    EXPECT_EQ(l.folio(), folio.get());
    EXPECT_EQ(l.pte_table(), nullptr);
    EXPECT_EQ(l.writable(), w);
    EXPECT_EQ(l.dirty(), d);
    EXPECT_EQ(l.young(), y);
    EXPECT_EQ(Pmd::from_raw(l.raw()).raw(), l.raw());
  }
  const Pmd l = Pmd::leaf(folio.get(), true, false, false).with(Pmd::kDirty).without(Pmd::kWritable);
  EXPECT_TRUE(l.is_leaf());
  EXPECT_TRUE(l.dirty());
  EXPECT_FALSE(l.writable());
  EXPECT_EQ(l.folio(), folio.get());
  EXPECT_TRUE(Pmd().none());
  EXPECT_EQ(Pmd().pte_table(), nullptr);
  EXPECT_EQ(Pmd().folio(), nullptr);
}

// ---- Lookups and allocation ------------------------------------------------

TEST(ImplPageTables, MissingTablesCountsWhatAnEntryStillNeeds) {
  PageTables pt;
  // Nothing: a PTE needs PUD, PMD and PTE tables; a PMD leaf needs two.
  EXPECT_EQ(pt.missing_tables(A, false), 3);
  EXPECT_EQ(pt.missing_tables(A, true), 2);
  ASSERT_NE(pt.ensure_pmd_table(A), nullptr);
  EXPECT_EQ(pt.missing_tables(A, false), 1);
  EXPECT_EQ(pt.missing_tables(A, true), 0);
  // Same PUD table, next PMD table: only the PUD table is there.
  EXPECT_EQ(pt.missing_tables(A + kPudSize, false), 2);
  EXPECT_EQ(pt.missing_tables(A + kPudSize, true), 1);
  // Another PGD slot shares nothing.
  EXPECT_EQ(pt.missing_tables(A + kPgdSize, false), 3);
  EXPECT_EQ(pt.missing_tables(A + kPgdSize, true), 2);
  ASSERT_NE(pt.ensure_pte_table(A), nullptr);
  EXPECT_EQ(pt.missing_tables(A, false), 0);
  EXPECT_EQ(pt.missing_tables(A + 511 * kP, false), 0);
  EXPECT_EQ(pt.missing_tables(A + kPmdSize, false), 1);
  EXPECT_EQ(pt.missing_tables(A + kPmdSize, true), 0);
}

TEST(ImplPageTables, EnsureCreatesAndCountsEachLevelOnce) {
  PageTables pt;
  EXPECT_EQ(CountsOf(pt), (Counts{0, 0, 0}));
  PmdTable* pmd = pt.ensure_pmd_table(A);
  ASSERT_NE(pmd, nullptr);
  EXPECT_EQ(CountsOf(pt), (Counts{0, 1, 1}));
  EXPECT_EQ(pt.pmd_table(A), pmd);
  PteTable* pte = pt.ensure_pte_table(A + 3 * kP);
  ASSERT_NE(pte, nullptr);
  EXPECT_EQ(CountsOf(pt), (Counts{1, 1, 1}));
  EXPECT_EQ(pt.pte_table(A), pte);
  EXPECT_EQ(pt.pmd(A).pte_table(), pte);
  // Next PMD slot: a new PTE table, same upper tables.
  PteTable* next = pt.ensure_pte_table(A + kPmdSize);
  EXPECT_NE(next, pte);
  EXPECT_EQ(CountsOf(pt), (Counts{2, 1, 1}));
  // Next PMD table: same PUD table.
  ASSERT_NE(pt.ensure_pte_table(A + kPudSize), nullptr);
  EXPECT_EQ(CountsOf(pt), (Counts{3, 2, 1}));
  EXPECT_EQ(Linked(pt), CountsOf(pt));
}

TEST(ImplPageTables, EnsureIsIdempotent) {
  PageTables pt;
  PteTable* pte = pt.ensure_pte_table(A);
  PmdTable* pmd = pt.pmd_table(A);
  const Counts before = CountsOf(pt);
  for (Addr a : {A, A + kP, A + kPmdSize - kP}) {
    EXPECT_EQ(pt.ensure_pte_table(a), pte);
    EXPECT_EQ(pt.ensure_pmd_table(a), pmd);
  }
  EXPECT_EQ(CountsOf(pt), before);
  EXPECT_EQ(Linked(pt), before);
}

TEST(ImplPageTables, EnsurePteTableReturnsNullOverALeaf) {
  // A THP leaf occupies the slot a PTE table would link into; replacing it
  // would lose the mapping. The caller must split first.
  auto folio = std::make_unique<Folio>(1, FolioKind::kAnon, 9, 1);
  PageTables pt;
  InstallLeaf(pt, A + kPmdSize, folio.get());
  EXPECT_EQ(pt.ensure_pte_table(A + kPmdSize), nullptr);
  EXPECT_EQ(pt.ensure_pte_table(A + kPmdSize + 17 * kP), nullptr);
  EXPECT_EQ(pt.nr_pte_tables(), 0);
  EXPECT_TRUE(pt.pmd(A + kPmdSize).is_leaf());
  EXPECT_EQ(pt.pmd(A + kPmdSize).folio(), folio.get());
  EXPECT_EQ(pt.pte_table(A + kPmdSize), nullptr);
  EXPECT_TRUE(pt.pte(A + kPmdSize).none());
  EXPECT_EQ(pt.missing_tables(A + kPmdSize, false), 0);
  // The neighbouring slots are unaffected.
  EXPECT_NE(pt.ensure_pte_table(A), nullptr);
  EXPECT_NE(pt.ensure_pte_table(A + 2 * kPmdSize), nullptr);
  EXPECT_EQ(pt.nr_pte_tables(), 2);
  ClearLeaf(pt, A + kPmdSize);
}

TEST(ImplPageTables, LookupsOfAbsentTablesAreEmpty) {
  PageTables pt;
  EXPECT_EQ(pt.pud_table(A), nullptr);
  EXPECT_EQ(pt.pmd_table(A), nullptr);
  EXPECT_TRUE(pt.pmd(A).none());
  EXPECT_EQ(pt.pte_table(A), nullptr);
  EXPECT_TRUE(pt.pte(A).none());
  pt.ensure_pmd_table(A);
  EXPECT_NE(pt.pud_table(A), nullptr);
  EXPECT_TRUE(pt.pmd(A).none());
  EXPECT_TRUE(pt.pte(A).none());
}

// ---- free_uncovered ----------------------------------------------------------

// The four PTE tables of the diagram at the top.
void BuildFour(PageTables& pt) {
  for (Addr a : {A, A + kPmdSize, A + 5 * kPmdSize, A + kPudSize}) ASSERT_NE(pt.ensure_pte_table(a), nullptr);
  ASSERT_EQ(CountsOf(pt), (Counts{4, 2, 1}));
}

TEST(ImplPageTables, FreeUncoveredWithNothingCoveredFreesEverything) {
  PageTables pt;
  BuildFour(pt);
  pt.free_uncovered(0, kTaskSize, kNothingCovered);
  EXPECT_EQ(CountsOf(pt), (Counts{0, 0, 0}));
  EXPECT_EQ(Linked(pt), (Counts{0, 0, 0}));
  EXPECT_EQ(pt.pud_table(A), nullptr);
}

TEST(ImplPageTables, FreeUncoveredKeepsEveryTableWhoseSpanIsCovered) {
  // VMAs: one page in slot 1; one straddling the end of slot 5 (so slot 5's
  // table is only partly covered -- enough to keep it).
  //
  //   slot:     0        1        5          6                T2[0]
  //           [....] [#.....] [.......#|#......]            [....]
  //           freed    kept     kept      (none)              freed (+T2)
  PageTables pt;
  BuildFour(pt);
  PteTable* kept1 = pt.pte_table(A + kPmdSize);
  PteTable* kept5 = pt.pte_table(A + 5 * kPmdSize);
  pt.free_uncovered(A, A + 2 * kPudSize,
                    CoveredBy({{A + kPmdSize, A + kPmdSize + kP},
                               {A + 6 * kPmdSize - kP, A + 6 * kPmdSize + kP}}));
  EXPECT_EQ(pt.pte_table(A), nullptr);
  EXPECT_EQ(pt.pte_table(A + kPmdSize), kept1);
  EXPECT_EQ(pt.pte_table(A + 5 * kPmdSize), kept5);
  EXPECT_EQ(pt.pmd_table(A + kPudSize), nullptr);  // T2's whole GiB is uncovered
  EXPECT_NE(pt.pmd_table(A), nullptr);
  EXPECT_NE(pt.pud_table(A), nullptr);
  EXPECT_EQ(CountsOf(pt), (Counts{2, 1, 1}));
  EXPECT_EQ(Linked(pt), CountsOf(pt));
}

TEST(ImplPageTables, FreeUncoveredLeavesTablesOutsideTheRange) {
  // Slot 1 is covered, which keeps T1 and the PUD table; slots 0 and 5 and
  // T2 are all uncovered, but only slot 0 meets [A, A + kPmdSize).
  PageTables pt;
  BuildFour(pt);
  pt.free_uncovered(A, A + kPmdSize, CoveredBy({{A + kPmdSize, A + kPmdSize + kP}}));
  EXPECT_EQ(pt.pte_table(A), nullptr);
  EXPECT_NE(pt.pte_table(A + kPmdSize), nullptr);
  EXPECT_NE(pt.pte_table(A + 5 * kPmdSize), nullptr);
  EXPECT_NE(pt.pte_table(A + kPudSize), nullptr);
  EXPECT_EQ(CountsOf(pt), (Counts{3, 2, 1}));
  EXPECT_EQ(Linked(pt), CountsOf(pt));
}

TEST(ImplPageTables, FreeUncoveredRangeIsHalfOpenAndMayStartMidTable) {
  PageTables pt;
  BuildFour(pt);
  const auto covered = CoveredBy({{A + 5 * kPmdSize, A + 5 * kPmdSize + kP}});
  // [A, A + kPmdSize) ends where slot 1 begins: slot 1 is not in it.
  pt.free_uncovered(A, A + kPmdSize, covered);
  EXPECT_EQ(pt.pte_table(A), nullptr);
  EXPECT_NE(pt.pte_table(A + kPmdSize), nullptr);
  // One page at the very end of slot 1 is enough to reach its table.
  pt.free_uncovered(A + 2 * kPmdSize - kP, A + 2 * kPmdSize, covered);
  EXPECT_EQ(pt.pte_table(A + kPmdSize), nullptr);
  EXPECT_NE(pt.pte_table(A + 5 * kPmdSize), nullptr);
  // An empty range frees nothing.
  pt.free_uncovered(A + kPudSize, A + kPudSize, kNothingCovered);
  EXPECT_NE(pt.pte_table(A + kPudSize), nullptr);
  EXPECT_EQ(CountsOf(pt), (Counts{2, 2, 1}));
  EXPECT_EQ(Linked(pt), CountsOf(pt));
}

TEST(ImplPageTables, FreeUncoveredNeverDropsATableItLeavesLinked) {
  // Slots 0 and 1 of T1 both uncovered; the range reaches only slot 0. Slot
  // 1's table is outside the range, so it must stay -- and then so must T1
  // and the PUD table above it, or slot 1's table is leaked with nr_pte
  // still counting it (page_table.h invariant 2). Mm::free_pgtables never
  // makes such a call today (an uncovered table is freed by the munmap
  // that uncovered it), but free_uncovered's contract allows it.
  PageTables pt;
  ASSERT_NE(pt.ensure_pte_table(A), nullptr);
  ASSERT_NE(pt.ensure_pte_table(A + kPmdSize), nullptr);
  pt.free_uncovered(A, A + kPmdSize, kNothingCovered);
  EXPECT_EQ(Linked(pt), CountsOf(pt)) << "counted tables vs tables linked in the tree";
  EXPECT_EQ(pt.pte_table(A), nullptr);
  EXPECT_NE(pt.pte_table(A + kPmdSize), nullptr) << "a table outside [lo, hi) was unlinked";
}

// ---- walk -------------------------------------------------------------------

TEST(ImplPageTables, WalkVisitsTablesAndLeavesInAddressOrder) {
  auto small = std::make_unique<Folio>(1, FolioKind::kAnon, 0, 1);
  auto other = std::make_unique<Folio>(2, FolioKind::kPageCache, 0, 1);
  auto thp = std::make_unique<Folio>(3, FolioKind::kAnon, 9, 1);
  PageTables pt;
  // Filled out of address order on purpose.
  {
    PteTable* t = pt.ensure_pte_table(A + kPudSize);
    MutexLock g(t->ptl());
    t->set(7, Pte::make(&other->page(0), false, true, true));
  }
  {
    PteTable* t = pt.ensure_pte_table(A);
    MutexLock g(t->ptl());
    t->set(3, Pte::make(&small->page(0), true, true, false));
    t->set(1, Pte::make(&Page::zero_page(), false, false, false));
  }
  InstallLeaf(pt, A + 2 * kPmdSize, thp.get());
  ASSERT_NE(pt.ensure_pte_table(A + 4 * kPmdSize), nullptr);  // empty table

  std::vector<std::string> seen;
  auto hex = [](Addr a) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(a));
    return std::string(buf);
  };
  std::vector<Pte> ptes;
  std::vector<Pmd> leaves;
  pt.walk([&](Addr a, Pte p) { seen.push_back("pte " + hex(a)); ptes.push_back(p); },
          [&](Addr a, Pmd e) { seen.push_back("pmd " + hex(a)); leaves.push_back(e); },
          [&](int level, Addr base) { seen.push_back("table" + std::to_string(level) + " " + hex(base)); });
  const std::vector<std::string> expected = {
      "table3 " + hex(0),
      "table2 " + hex(A),
      "table1 " + hex(A),
      "pte " + hex(A + 1 * kP),
      "pte " + hex(A + 3 * kP),
      "pmd " + hex(A + 2 * kPmdSize),
      "table1 " + hex(A + 4 * kPmdSize),
      "table2 " + hex(A + kPudSize),
      "table1 " + hex(A + kPudSize),
      "pte " + hex(A + kPudSize + 7 * kP),
  };
  EXPECT_EQ(seen, expected);
  ASSERT_EQ(ptes.size(), 3u);
  EXPECT_TRUE(ptes[0].page()->is_zero_page());
  EXPECT_EQ(ptes[1].page(), &small->page(0));
  EXPECT_TRUE(ptes[1].writable() && ptes[1].dirty() && !ptes[1].young());
  EXPECT_EQ(ptes[2].page(), &other->page(0));
  ASSERT_EQ(leaves.size(), 1u);
  EXPECT_EQ(leaves[0].folio(), thp.get());
  // A leaf is not a linked table: three PTE tables, not four.
  EXPECT_EQ(CountsOf(pt), (Counts{3, 2, 1}));
  EXPECT_EQ(Linked(pt), CountsOf(pt));
  ClearLeaf(pt, A + 2 * kPmdSize);
}

// ---- MmuGather ------------------------------------------------------------

// Counts the frees of the folios it owns, so a test can see a folio go
// without touching it afterwards.
class FreeWatch final : public FolioOwner {
 public:
  void folio_freed(Folio&) override { ++freed; }
  int freed = 0;
};

class ImplMmuGather : public ::testing::Test {
 protected:
  Kernel kernel;
  ARef<MmWithUser> mm = kernel.mm_alloc();
  FreeWatch watch;
  FolioId next_id = 1000;
  Folio* NewFolio(std::uint32_t refs) {
    return new Folio(next_id++, FolioKind::kAnon, 0, refs, &watch);
  }
};

TEST_F(ImplMmuGather, GatheredFolioOutlivesTheBatchUntilTheFlush) {
  const std::uint64_t flushes = mm->tlb_flushes();
  Folio* f = NewFolio(1);
  MmuGather tlb(*mm);
  tlb.add(f);
  // The gather holds the last reference: the TLB may still point at it.
  EXPECT_EQ(watch.freed, 0);
  EXPECT_EQ(f->refcount().value(), 1u);
  EXPECT_EQ(mm->tlb_flushes(), flushes);
  tlb.flush();
  EXPECT_EQ(mm->tlb_flushes(), flushes + 1);
  EXPECT_EQ(watch.freed, 1);
}

TEST_F(ImplMmuGather, OneFlushPerBatchAndOnlyLastReferencesFree) {
  const std::uint64_t flushes = mm->tlb_flushes();
  Folio* shared = NewFolio(3);  // two mappings gathered + one kept by the test
  Folio* lone = NewFolio(1);
  {
    MmuGather tlb(*mm);
    tlb.add(shared);
    tlb.add(lone);
    tlb.add(shared);
    EXPECT_EQ(shared->refcount().value(), 3u);
    tlb.flush();
    EXPECT_EQ(mm->tlb_flushes(), flushes + 1);
    EXPECT_EQ(watch.freed, 1);  // lone
    EXPECT_EQ(shared->refcount().value(), 1u);
    tlb.flush();  // nothing gathered: no flush to count
    EXPECT_EQ(mm->tlb_flushes(), flushes + 1);
  }
  EXPECT_EQ(mm->tlb_flushes(), flushes + 1);  // the destructor had nothing either
  EXPECT_TRUE(shared->put());
  EXPECT_EQ(watch.freed, 2);
}

TEST_F(ImplMmuGather, DestructorFlushesWhatIsLeft) {
  const std::uint64_t flushes = mm->tlb_flushes();
  {
    MmuGather tlb(*mm);
    tlb.add(NewFolio(1));
    EXPECT_EQ(watch.freed, 0);
  }
  EXPECT_EQ(watch.freed, 1);
  EXPECT_EQ(mm->tlb_flushes(), flushes + 1);
}

TEST_F(ImplMmuGather, FullAndHasRoomTrackTheBatch) {
  Folio* f = NewFolio(MmuGather::kBatch + 1);
  MmuGather tlb(*mm);
  EXPECT_TRUE(tlb.has_room(MmuGather::kBatch));
  EXPECT_FALSE(tlb.has_room(MmuGather::kBatch + 1));
  for (std::size_t k = 0; k + 1 < MmuGather::kBatch; ++k) tlb.add(f);
  EXPECT_FALSE(tlb.full());
  EXPECT_TRUE(tlb.has_room(1));
  EXPECT_FALSE(tlb.has_room(2));
  tlb.add(f);
  EXPECT_TRUE(tlb.full());
  EXPECT_FALSE(tlb.has_room(1));
  EXPECT_EQ(f->refcount().value(), MmuGather::kBatch + 1);
  tlb.flush();
  EXPECT_FALSE(tlb.full());
  EXPECT_TRUE(tlb.has_room(MmuGather::kBatch));
  EXPECT_EQ(f->refcount().value(), 1u);
  EXPECT_EQ(watch.freed, 0);
  EXPECT_TRUE(f->put());
  EXPECT_EQ(watch.freed, 1);
}

}  // namespace
}  // namespace mmv::impl::test
