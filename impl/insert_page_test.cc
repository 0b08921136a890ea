// VmaMixedMap::vm_insert_page, alloc_page and put_page on the impl (SPEC.md
// section 3), against the model with Twin, and through the real guard-based
// API (MmapReadGuard -> VmaRef -> as_mixedmap_vma -> vm_insert_page(Page&)).

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

using model::test::FindFolio;
using model::test::FolioAt;

// Drops the pins the test still holds on driver pages (Kernel::alloc_page's
// caller references): a Kernel does not free caller-owned pages.
void ReleasePins(Kernel& k) {
  std::vector<std::pair<FolioId, std::uint32_t>> pinned;
  for (Folio* f : k.driver_pages()) pinned.emplace_back(f->id(), f->pins());
  for (auto [id, n] : pinned)
    for (std::uint32_t i = 0; i < n; ++i) EXPECT_TRUE(IsOk(k.put_page(id)));
}

//   kLo            kLo+4p   kLo+5p
//   |-- driver D --| hole   |- anon -|
class ImplInsertPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(t_.map(DriverAt(kD, 4 * kP)), kD);
    ASSERT_EQ(t_.map(AnonAt(kAnon, kP)), kAnon);
    auto p = t_.alloc_page();
    ASSERT_TRUE(IsOk(p));
    page_ = p.value();
    t_.ExpectSameState();
  }
  void TearDown() override { ReleasePins(t_.kernel); }

  // A failed insert changes nothing on either side.
  void ExpectFails(Addr vma_addr, Addr addr, FolioId page, Errc e) {
    SCOPED_TRACE(::testing::Message() << std::hex << "vma_addr=0x" << vma_addr << " addr=0x"
                                      << addr << std::dec << " page=" << page);
    const model::System before = t_.observed();
    EXPECT_TRUE(IsErr(t_.vm_insert_page(vma_addr, addr, page), e));
    const model::System after = t_.observed();
    EXPECT_TRUE(before == after) << model::diff(before, after);
    t_.ExpectSameState();
  }

  static constexpr Addr kD = kLo;
  static constexpr Addr kAnon = kLo + 5 * kP;
  Twin t_;
  FolioId page_ = 0;
};

TEST_F(ImplInsertPageTest, AllocPageIsAPinnedDriverFolio) {
  const model::System seen = t_.observed();
  const model::Folio* f = FindFolio(seen, page_);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->kind, FolioKind::kDriver);
  EXPECT_EQ(f->order, 0u);
  EXPECT_EQ(f->refcount, 1u);
  EXPECT_EQ(f->pins, 1u);
  EXPECT_EQ(t_.mm().rss(), Rss{}) << "not mapped yet";
}

TEST_F(ImplInsertPageTest, MapsThePageTakesARefAndCountsAFilePage) {
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD, kD + kP, page_)));
  const model::System seen = t_.observed();
  const model::Folio* f = FindFolio(seen, page_);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->refcount, 2u) << "+1 for the mapping";
  EXPECT_EQ(f->pins, 1u) << "the caller keeps its own reference";
  EXPECT_EQ(t_.mm().rss(), (Rss{1, 0}));
  auto v = seen.page(kD + kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->folio, page_);
  EXPECT_FALSE(v->zero_page);
  EXPECT_FALSE(v->pmd_mapped);
  EXPECT_EQ(t_.mm().table_counts(), (TableCounts{1, 1, 1}));
  t_.ExpectSameState();
  // The inserted page is accessible; its neighbours still are not.
  EXPECT_TRUE(IsOk(t_.read(kD + kP)));
  EXPECT_TRUE(IsErr(t_.read(kD), Errc::kBus));
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, UnalignedAddrMapsItsPageAndOnePageTwiceIsFine) {
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD + 2 * kP + 7, kD + 3 * kP + 123, page_)));
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD, kD, page_)));
  const model::System seen = t_.observed();
  EXPECT_EQ(FolioAt(seen, kD + 3 * kP), page_);
  EXPECT_EQ(FolioAt(seen, kD), page_);
  EXPECT_EQ(FindFolio(seen, page_)->refcount, 3u);
  EXPECT_EQ(t_.mm().rss(), (Rss{2, 0}));
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, WritableOnlyInASharedWritableVma) {
  //   kD: shared RW (fixture)   +8p: shared R   +10p: private RW
  ASSERT_EQ(t_.map(DriverAt(kLo + 8 * kP, kP, {VmaNewOp::kSetMixedMap}, kR)), kLo + 8 * kP);
  MmapRequest priv = DriverAt(kLo + 10 * kP, kP);
  priv.shared = false;
  ASSERT_EQ(t_.map(priv), kLo + 10 * kP);
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD, kD, page_)));
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kLo + 8 * kP, kLo + 8 * kP, page_)));
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kLo + 10 * kP, kLo + 10 * kP, page_)));
  const model::System seen = t_.observed();
  EXPECT_TRUE(seen.page(kD)->writable);
  EXPECT_FALSE(seen.page(kLo + 8 * kP)->writable);
  EXPECT_FALSE(seen.page(kLo + 10 * kP)->writable) << "private: the first write copies";
  for (Addr a : {kD, kLo + 8 * kP, kLo + 10 * kP}) {
    EXPECT_FALSE(seen.page(a)->dirty);
    EXPECT_FALSE(seen.page(a)->young);
  }
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, NoVmaWithoutMixedMap) {
  ExpectFails(kD + 4 * kP, kD + 4 * kP, page_, Errc::kNoVma);  // hole
  ExpectFails(kAnon, kAnon, page_, Errc::kNoVma);              // anonymous VMA
  ASSERT_EQ(t_.map(DriverAt(kLo + 8 * kP, kP, {})), kLo + 8 * kP);
  ExpectFails(kLo + 8 * kP, kLo + 8 * kP, page_, Errc::kNoVma);  // driver, no MIXEDMAP
}

TEST_F(ImplInsertPageTest, AddressOutsideTheVmaIsEfault) {
  ExpectFails(kD, kD + 4 * kP, page_, Errc::kFault);
  ExpectFails(kD, kD - kP, page_, Errc::kFault);
  ExpectFails(kD, kAnon, page_, Errc::kFault);  // inside another VMA
}

TEST_F(ImplInsertPageTest, UnknownFreedOrAnonymousPageIsEinval) {
  ExpectFails(kD, kD, page_ + 1000, Errc::kInval);
  ExpectFails(kD, kD, 0, Errc::kInval);
  ASSERT_TRUE(IsOk(t_.write(kAnon, 1)));
  const FolioId anon = FolioAt(t_.observed(), kAnon);
  ASSERT_NE(anon, 0u);
  ExpectFails(kD, kD, anon, Errc::kInval);
  ASSERT_TRUE(IsOk(t_.put_page(page_)));
  ASSERT_EQ(FindFolio(t_.observed(), page_), nullptr) << "last reference dropped: freed";
  ExpectFails(kD, kD, page_, Errc::kInval);
}

TEST_F(ImplInsertPageTest, TableAllocationFailureIsEnomem) {
  const model::System before = t_.observed();
  t_.fail_next_allocation();
  EXPECT_TRUE(IsErr(t_.vm_insert_page(kD, kD, page_), Errc::kNoMem));
  EXPECT_FALSE(t_.kernel.allocation_failure_armed()) << "the table allocation consumed it";
  EXPECT_TRUE(before == t_.observed()) << model::diff(before, t_.observed());
  t_.ExpectSameState();
  EXPECT_TRUE(IsOk(t_.vm_insert_page(kD, kD, page_)));
  // Tables exist now: no allocation, the injection stays armed.
  auto second = t_.alloc_page();
  ASSERT_TRUE(IsOk(second));
  t_.fail_next_allocation();
  EXPECT_TRUE(IsOk(t_.vm_insert_page(kD, kD + kP, second.value())));
  EXPECT_TRUE(t_.kernel.allocation_failure_armed());
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, PresentEntryIsEbusy) {
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD, kD, page_)));
  auto other = t_.alloc_page();
  ASSERT_TRUE(IsOk(other));
  ExpectFails(kD, kD, other.value(), Errc::kBusy);
  ExpectFails(kD, kD + 5, page_, Errc::kBusy);
  const model::System seen = t_.observed();
  EXPECT_EQ(FindFolio(seen, page_)->refcount, 2u);
  EXPECT_EQ(FindFolio(seen, other.value())->refcount, 1u) << "no reference leaked on EBUSY";
}

TEST_F(ImplInsertPageTest, ErrorOrder) {
  ExpectFails(kD, kD + 4 * kP, page_ + 1000, Errc::kFault);  // EFAULT before EINVAL
  t_.fail_next_allocation();
  ExpectFails(kD, kD, page_ + 1000, Errc::kInval);  // EINVAL before ENOMEM
  EXPECT_TRUE(t_.kernel.allocation_failure_armed());
  ExpectFails(kD, kD + 4 * kP, page_, Errc::kFault);  // EFAULT before ENOMEM
  EXPECT_TRUE(t_.kernel.allocation_failure_armed());
}

TEST_F(ImplInsertPageTest, PutPageThenZapFreesIt) {
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD, kD, page_)));
  ASSERT_TRUE(IsOk(t_.put_page(page_)));
  {
    const model::System seen = t_.observed();
    const model::Folio* f = FindFolio(seen, page_);
    ASSERT_NE(f, nullptr) << "the mapping keeps the page alive";
    EXPECT_EQ(f->refcount, 1u);
    EXPECT_EQ(f->pins, 0u);
  }
  EXPECT_TRUE(IsErr(t_.put_page(page_), Errc::kInval)) << "no pin left";
  t_.ExpectSameState();
  ASSERT_TRUE(Zapped(t_.zap(kD, kD, kP)));
  EXPECT_EQ(FindFolio(t_.observed(), page_), nullptr) << "the last reference went with the PTE";
  EXPECT_TRUE(t_.kernel.driver_pages().empty());
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, MunmapDropsTheMappingsReference) {
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD, kD, page_)));
  ASSERT_TRUE(IsOk(t_.munmap(kD, 4 * kP)));
  ASSERT_NE(FindFolio(t_.observed(), page_), nullptr);
  EXPECT_EQ(FindFolio(t_.observed(), page_)->refcount, 1u);
  EXPECT_EQ(t_.mm().rss(), Rss{});
  t_.ExpectSameState();
  ASSERT_TRUE(IsOk(t_.put_page(page_)));
  EXPECT_EQ(FindFolio(t_.observed(), page_), nullptr);
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, PageCacheFolioCanBeInserted) {
  // Only anonymous folios are refused: a page-cache page is insertable and
  // counts as a file page; the cache keeps its own reference.
  const FileId f = t_.create_file(MarkedPages(1));
  const FolioId cached = model::test::CachedFolio(t_.observed(), f, 0);
  ASSERT_NE(cached, 0u);
  ASSERT_TRUE(IsOk(t_.vm_insert_page(kD, kD, cached)));
  EXPECT_EQ(FindFolio(t_.observed(), cached)->refcount, 2u);
  EXPECT_EQ(t_.mm().rss(), (Rss{1, 0}));
  EXPECT_EQ(t_.read(kD).value(), MarkedPages(1)[0].get(0));
  t_.ExpectSameState();
}

// ---- The real API ----------------------------------------------------------

TEST_F(ImplInsertPageTest, AsMixedMapVmaOnlyWhenMixedMapIsSet) {
  ASSERT_EQ(t_.map(DriverAt(kLo + 8 * kP, kP, {})), kLo + 8 * kP);
  MmapReadGuard g(t_.mm());
  ASSERT_NE(g.vma_lookup(kD), nullptr);
  ASSERT_NE(g.vma_lookup(kAnon), nullptr);
  ASSERT_NE(g.vma_lookup(kLo + 8 * kP), nullptr);
  EXPECT_NE(g.vma_lookup(kD + 3 * kP)->as_mixedmap_vma(), nullptr);
  EXPECT_EQ(g.vma_lookup(kAnon)->as_mixedmap_vma(), nullptr);
  EXPECT_EQ(g.vma_lookup(kLo + 8 * kP)->as_mixedmap_vma(), nullptr) << "driver, no MIXEDMAP";
  EXPECT_EQ(g.vma_lookup(kD + 4 * kP), nullptr) << "hole";
  EXPECT_TRUE(t_.model.is_mixedmap(kD));
  EXPECT_FALSE(t_.model.is_mixedmap(kAnon));
  EXPECT_FALSE(t_.model.is_mixedmap(kLo + 8 * kP));
}

TEST_F(ImplInsertPageTest, ThroughMmapReadGuardWithARealPage) {
  // The impl has no public id -> Page lookup besides get_insertable_folio,
  // which hands out the folio with an extra reference to put() afterwards.
  Folio* folio = t_.kernel.get_insertable_folio(page_);
  ASSERT_NE(folio, nullptr);
  ASSERT_EQ(folio->refcount().value(), 2u) << "the pin plus the lookup's reference";
  {
    MmapReadGuard g(t_.mm());
    VmaMixedMap* m = g.vma_lookup(kD)->as_mixedmap_vma();
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(IsOk(m->vm_insert_page(kD + 2 * kP, folio->page(0))));
    EXPECT_TRUE(IsErr(m->vm_insert_page(kD + 2 * kP, folio->page(0)), Errc::kBusy));
    EXPECT_TRUE(IsErr(m->vm_insert_page(kD + 4 * kP, folio->page(0)), Errc::kFault));
    EXPECT_TRUE(IsErr(m->vm_insert_page(kD, Page::zero_page()), Errc::kInval));
  }
  EXPECT_FALSE(folio->put()) << "the mapping and the pin remain";
  // The same on the model, to keep the twin in step.
  ASSERT_TRUE(IsOk(t_.model.vm_insert_page(kD, kD + 2 * kP, page_)));
  EXPECT_EQ(FindFolio(t_.observed(), page_)->refcount, 2u);
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, ThroughVmaReadGuard) {
  Folio* folio = t_.kernel.get_insertable_folio(page_);
  ASSERT_NE(folio, nullptr);
  {
    std::optional<VmaReadGuard> vg = t_.mm().lock_vma_under_rcu(kD + kP);
    ASSERT_TRUE(vg.has_value());
    VmaMixedMap* m = vg->vma().as_mixedmap_vma();
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(IsOk(m->vm_insert_page(kD + kP, folio->page(0))));
  }
  folio->put();
  ASSERT_TRUE(IsOk(t_.model.vm_insert_page(kD, kD + kP, page_)));
  t_.ExpectSameState();
}

TEST_F(ImplInsertPageTest, GetInsertableFolioRefusesAnonAndUnknownIds) {
  ASSERT_TRUE(IsOk(t_.write(kAnon, 1)));
  const FolioId anon = FolioAt(t_.observed(), kAnon);
  ASSERT_NE(anon, 0u);
  EXPECT_EQ(t_.kernel.get_insertable_folio(anon), nullptr);
  EXPECT_EQ(t_.kernel.get_insertable_folio(page_ + 1000), nullptr);
  EXPECT_EQ(t_.kernel.get_insertable_folio(0), nullptr);
  t_.ExpectSameState();
}

}  // namespace
}  // namespace mmv::impl::test
