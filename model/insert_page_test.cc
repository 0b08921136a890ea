// VmaMixedMap::vm_insert_page, alloc_page and put_page (SPEC.md section 3).

#include <gtest/gtest.h>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

//   kLo            kLo+4p   kLo+5p
//   |-- driver D --| hole   |- anon -|
class InsertPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Map(s_, DriverAt(kD, 4 * kP)), kD);
    ASSERT_EQ(Map(s_, AnonAt(kAnon, kP)), kAnon);
    auto p = s_.alloc_page();
    ASSERT_TRUE(IsOk(p));
    page_ = p.value();
  }
  void ExpectFails(Addr vma_addr, Addr addr, FolioId page, Errc e) {
    SCOPED_TRACE(::testing::Message() << std::hex << "vma_addr=0x" << vma_addr
                                      << " addr=0x" << addr << std::dec
                                      << " page=" << page);
    const System before = s_;
    EXPECT_TRUE(IsErr(s_.vm_insert_page(vma_addr, addr, page), e));
    EXPECT_EQ(s_, before);
  }
  static constexpr Addr kD = kLo;
  static constexpr Addr kAnon = kLo + 5 * kP;
  System s_{kLo, kHi};
  FolioId page_ = 0;
};

TEST_F(InsertPageTest, AllocPageIsAPinnedDriverFolio) {
  const Folio* f = FindFolio(s_, page_);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->kind, FolioKind::kDriver);
  EXPECT_EQ(f->order, 0u);
  EXPECT_EQ(f->refcount, 1u);
  EXPECT_EQ(f->pins, 1u);
  EXPECT_EQ(f->pages.size(), 1u);
  EXPECT_EQ(s_.rss(), Rss{}) << "not mapped yet";
  auto other = s_.alloc_page();
  ASSERT_TRUE(IsOk(other));
  EXPECT_NE(other.value(), page_);
  ExpectInvariants(s_);
}

TEST_F(InsertPageTest, AllocPageFailsUnderInjection) {
  const System before = s_;
  s_.fail_next_allocation();
  EXPECT_TRUE(IsErr(s_.alloc_page(), Errc::kNoMem));
  EXPECT_EQ(s_, before);
}

TEST_F(InsertPageTest, MixedMapOnlyWhenSet) {
  EXPECT_TRUE(s_.is_mixedmap(kD));
  EXPECT_TRUE(s_.is_mixedmap(kD + 3 * kP));
  EXPECT_FALSE(s_.is_mixedmap(kAnon));
  EXPECT_FALSE(s_.is_mixedmap(kD + 4 * kP)) << "hole";
  ASSERT_EQ(Map(s_, DriverAt(kLo + 8 * kP, kP, {})), kLo + 8 * kP);
  EXPECT_FALSE(s_.is_mixedmap(kLo + 8 * kP)) << "driver without set_mixedmap";
}

TEST_F(InsertPageTest, MapsThePageTakesARefAndCountsAFilePage) {
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD, kD + kP, page_)));
  const Folio* f = FindFolio(s_, page_);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->refcount, 2u);
  EXPECT_EQ(f->pins, 1u) << "the caller keeps its own reference";
  EXPECT_EQ(s_.rss(), (Rss{1, 0}));
  auto v = s_.page(kD + kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->folio, page_);
  EXPECT_FALSE(v->zero_page);
  EXPECT_FALSE(v->pmd_mapped);
  EXPECT_EQ(v->subpage, 0u);
  EXPECT_EQ(s_.table_counts(), (TableCounts{1, 1, 1}));
  EXPECT_EQ(PresentPages(s_, kD, kD + 4 * kP), 1u);
  // The inserted page is accessible; its neighbours still are not.
  EXPECT_TRUE(IsOk(s_.read(kD + kP)));
  EXPECT_TRUE(IsErr(s_.read(kD), Errc::kBus));
  ExpectInvariants(s_);
}

TEST_F(InsertPageTest, UnalignedAddrMapsItsPage) {
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD + 2 * kP + 7, kD + 3 * kP + 123, page_)));
  EXPECT_EQ(FolioAt(s_, kD + 3 * kP), page_);
}

TEST_F(InsertPageTest, SamePageAtTwoAddresses) {
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD, kD, page_)));
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD, kD + 2 * kP, page_)));
  EXPECT_EQ(FindFolio(s_, page_)->refcount, 3u);
  EXPECT_EQ(s_.rss(), (Rss{2, 0}));
  ExpectInvariants(s_);
}

TEST_F(InsertPageTest, NoVma) {
  ExpectFails(kD + 4 * kP, kD + 4 * kP, page_, Errc::kNoVma);  // hole
  ExpectFails(kAnon, kAnon, page_, Errc::kNoVma);  // anonymous VMA
  ASSERT_EQ(Map(s_, DriverAt(kLo + 8 * kP, kP, {})), kLo + 8 * kP);
  ExpectFails(kLo + 8 * kP, kLo + 8 * kP, page_, Errc::kNoVma);  // no MIXEDMAP
}

TEST_F(InsertPageTest, AddressOutsideTheVmaIsEfault) {
  ExpectFails(kD, kD + 4 * kP, page_, Errc::kFault);
  ExpectFails(kD, kD - kP, page_, Errc::kFault);
  ExpectFails(kD, kAnon, page_, Errc::kFault);  // inside another VMA
}

TEST_F(InsertPageTest, FreedOrUnknownPageIsEinval) {
  ExpectFails(kD, kD, page_ + 1000, Errc::kInval);
  ExpectFails(kD, kD, 0, Errc::kInval);
  ASSERT_TRUE(IsOk(s_.put_page(page_)));
  ASSERT_EQ(FindFolio(s_, page_), nullptr) << "last reference dropped: freed";
  ExpectFails(kD, kD, page_, Errc::kInval);
}

TEST_F(InsertPageTest, AnonymousFolioIsEinval) {
  ASSERT_TRUE(IsOk(s_.write(kAnon, 1)));
  const FolioId anon = FolioAt(s_, kAnon);
  ASSERT_NE(anon, 0u);
  ExpectFails(kD, kD, anon, Errc::kInval);
}

TEST_F(InsertPageTest, TableAllocationFailureIsEnomem) {
  const System before = s_;
  s_.fail_next_allocation();
  EXPECT_TRUE(IsErr(s_.vm_insert_page(kD, kD, page_), Errc::kNoMem));
  EXPECT_EQ(s_, before);
  EXPECT_TRUE(IsOk(s_.vm_insert_page(kD, kD, page_)));
  // Tables exist now: no allocation, the injection stays armed.
  auto second = s_.alloc_page();
  ASSERT_TRUE(IsOk(second));
  s_.fail_next_allocation();
  EXPECT_TRUE(IsOk(s_.vm_insert_page(kD, kD + kP, second.value())));
  EXPECT_TRUE(s_.allocation_failure_armed());
}

TEST_F(InsertPageTest, PresentEntryIsEbusy) {
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD, kD, page_)));
  auto other = s_.alloc_page();
  ASSERT_TRUE(IsOk(other));
  ExpectFails(kD, kD, other.value(), Errc::kBusy);
  ExpectFails(kD, kD + 5, page_, Errc::kBusy);
  EXPECT_EQ(FindFolio(s_, page_)->refcount, 2u);
  EXPECT_EQ(FindFolio(s_, other.value())->refcount, 1u);
}

TEST_F(InsertPageTest, ErrorOrder) {
  // EFAULT before EINVAL.
  ExpectFails(kD, kD + 4 * kP, page_ + 1000, Errc::kFault);
  // EINVAL before ENOMEM: the injection is not consumed.
  s_.fail_next_allocation();
  ExpectFails(kD, kD, page_ + 1000, Errc::kInval);
  EXPECT_TRUE(s_.allocation_failure_armed());
  // EFAULT before ENOMEM.
  ExpectFails(kD, kD + 4 * kP, page_, Errc::kFault);
  EXPECT_TRUE(s_.allocation_failure_armed());
}

TEST_F(InsertPageTest, EinvalBeforeEbusy) {
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD, kD, page_)));
  ExpectFails(kD, kD, page_ + 1000, Errc::kInval);
}

TEST_F(InsertPageTest, PutPageDropsThePinButTheMappingKeepsThePage) {
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD, kD, page_)));
  ASSERT_TRUE(IsOk(s_.put_page(page_)));
  const Folio* f = FindFolio(s_, page_);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->refcount, 1u);
  EXPECT_EQ(f->pins, 0u);
  EXPECT_EQ(FolioAt(s_, kD), page_);
  EXPECT_TRUE(IsOk(s_.read(kD)));
  ExpectInvariants(s_);
  // No pin left.
  const System before = s_;
  EXPECT_TRUE(IsErr(s_.put_page(page_), Errc::kInval));
  EXPECT_EQ(s_, before);
  // Removing the last mapping frees it.
  ASSERT_TRUE(Zapped(s_.zap_page_range_single(kD, kD, kP)));
  EXPECT_EQ(FindFolio(s_, page_), nullptr);
  ExpectInvariants(s_);
}

TEST_F(InsertPageTest, MunmapDropsTheMappingsReference) {
  ASSERT_TRUE(IsOk(s_.vm_insert_page(kD, kD, page_)));
  ASSERT_TRUE(IsOk(s_.munmap(kD, 4 * kP)));
  ASSERT_NE(FindFolio(s_, page_), nullptr);
  EXPECT_EQ(FindFolio(s_, page_)->refcount, 1u);
  EXPECT_EQ(s_.rss(), Rss{});
  ASSERT_TRUE(IsOk(s_.put_page(page_)));
  EXPECT_EQ(FindFolio(s_, page_), nullptr);
  ExpectInvariants(s_);
}

TEST_F(InsertPageTest, PutPageOfUnpinnedOrUnknownFolioIsEinval) {
  ASSERT_TRUE(IsOk(s_.write(kAnon, 1)));
  const System before = s_;
  EXPECT_TRUE(IsErr(s_.put_page(FolioAt(s_, kAnon)), Errc::kInval));
  EXPECT_TRUE(IsErr(s_.put_page(page_ + 1000), Errc::kInval));
  EXPECT_EQ(s_, before);
}

TEST_F(InsertPageTest, PutPageWithoutMappingFrees) {
  ASSERT_TRUE(IsOk(s_.put_page(page_)));
  EXPECT_EQ(FindFolio(s_, page_), nullptr);
  EXPECT_TRUE(IsErr(s_.put_page(page_), Errc::kInval));
}

}  // namespace
}  // namespace mmv::model::test
