// VmaRef::zap_page_range_single (SPEC.md section 5).

#include <gtest/gtest.h>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

// Two adjacent anonymous VMAs, every page of A written. B is read-only so
// that the two do not merge (the kernel would merge equal neighbours):
//   kLo                          kLo+8p          kLo+12p
//   |------------ A (RW) --------|---- B (R) -----|
//    0x10 0x11 ...          0x17
class ZapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Map(s_, AnonAt(kA, 8 * kP)), kA);
    ASSERT_EQ(Map(s_, AnonAt(kB, 4 * kP, kR)), kB);
    for (int i = 0; i < 8; ++i) {
      ASSERT_TRUE(IsOk(s_.write(kA + i * kP + 1, static_cast<std::uint8_t>(0x10 + i))));
    }
    ASSERT_EQ(s_.rss(), (Rss{0, 8}));
  }

  void ExpectRejected(Addr vma_addr, Addr address, std::uint64_t size) {
    SCOPED_TRACE(::testing::Message() << std::hex << "vma_addr=0x" << vma_addr
                                      << " address=0x" << address << " size=0x"
                                      << size);
    const System before = s_;
    EXPECT_TRUE(Rejected(s_.zap_page_range_single(vma_addr, address, size)));
    EXPECT_EQ(s_.zap_rejections(), before.zap_rejections() + 1);
    EXPECT_TRUE(SameExceptDiagnostics(before, s_));
    EXPECT_EQ(s_.bugs(), before.bugs());
  }

  static constexpr Addr kA = kLo;
  static constexpr Addr kB = kLo + 8 * kP;
  System s_{kLo, kHi};
};

// ---- Bad input ------------------------------------------------------------

TEST_F(ZapTest, NoVmaAtVmaAddr) {
  const System before = s_;
  EXPECT_TRUE(IsErr(s_.zap_page_range_single(kLo + 12 * kP, kLo, kP), Errc::kNoVma));
  EXPECT_TRUE(IsErr(s_.zap_page_range_single(kLo - kP, kLo, kP), Errc::kNoVma));
  EXPECT_EQ(s_, before);
}

TEST_F(ZapTest, OverflowIsRejected) {
  EXPECT_EQ(s_.zap_rejections(), 0u);
  // address + size == 2^64 wraps to 0.
  ExpectRejected(kA, kA, ~std::uint64_t{0} - kA + 1);
  ExpectRejected(kA, kA + kP, ~std::uint64_t{0});
  EXPECT_EQ(s_.zap_rejections(), 2u);
}

TEST_F(ZapTest, AddressBelowStartIsRejected) {
  //   |------ A ------|------ B ------|
  //              [== zap on B ==)
  ExpectRejected(kB, kB - kP, 2 * kP);
  ExpectRejected(kB, kA, kP);
  ExpectRejected(kA, kA - kP, kP);
}

TEST_F(ZapTest, EndPastVmaEndIsRejected) {
  //   |------ A ------|------ B ------|
  //   [===== zap on A =====)
  ExpectRejected(kA, kA, 9 * kP);
  ExpectRejected(kA, kA + 7 * kP, 2 * kP);
  ExpectRejected(kA, kB, kP);  // a range inside the neighbouring VMA
  ExpectRejected(kB, kB, 5 * kP);
}

TEST_F(ZapTest, RejectionsAccumulate) {
  ExpectRejected(kA, kA, 9 * kP);
  ExpectRejected(kB, kA, kP);
  ExpectRejected(kA, kA, ~std::uint64_t{0});
  EXPECT_EQ(s_.zap_rejections(), 3u);
  // A valid zap does not count.
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kA, kA, kP)));
  EXPECT_EQ(s_.zap_rejections(), 3u);
}

TEST_F(ZapTest, SizeZeroZapsNothing) {
  const System before = s_;
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kA, kA + kP, 0)));
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kA, kB, 0))) << "at the end";
  EXPECT_EQ(s_, before);
}

// ---- Valid ranges ---------------------------------------------------------

TEST_F(ZapTest, ClearsExactlyTheRangeFreesAnonFoliosKeepsTables) {
  //   kLo   +2p          +5p         +8p
  //   |-----[=== zap ====)-----------|
  const TableCounts tables = s_.table_counts();
  const FolioId gone = FolioAt(s_, kA + 3 * kP);
  // vma_addr may be any address inside the VMA.
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kA + 7 * kP + 5, kA + 2 * kP, 3 * kP)));
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(s_.page(kA + i * kP).has_value(), i < 2 || i >= 5) << i;
  }
  EXPECT_EQ(s_.rss(), (Rss{0, 5}));
  EXPECT_EQ(s_.folios().size(), 5u);
  EXPECT_EQ(FindFolio(s_, gone), nullptr) << "unmapped anon folio is freed";
  EXPECT_EQ(s_.table_counts(), tables) << "zap must not free page tables";
  EXPECT_EQ(s_.vmas().size(), 2u) << "zap does not touch VMAs";
  EXPECT_EQ(s_.zap_rejections(), 0u);
  EXPECT_EQ(s_.read(kA + kP + 1).value(), 0x11);
  EXPECT_EQ(s_.read(kA + 5 * kP + 1).value(), 0x15);
  ExpectInvariants(s_);
}

TEST_F(ZapTest, WholeVmaThenReadSeesZeroes) {
  const TableCounts tables = s_.table_counts();
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kA, kA, 8 * kP)));
  EXPECT_EQ(s_.rss(), Rss{});
  EXPECT_TRUE(s_.folios().empty());
  EXPECT_EQ(PresentPages(s_, kA, kB), 0u);
  EXPECT_EQ(s_.table_counts(), tables);
  ExpectInvariants(s_);
  // Anonymous memory that was zapped reads back as zero.
  EXPECT_EQ(s_.read(kA + 3 * kP + 1).value(), 0);
  EXPECT_TRUE(s_.page(kA + 3 * kP)->zero_page);
}

TEST_F(ZapTest, EmptyRangeIsANoOp) {
  // B was never touched.
  const System before = s_;
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kB, kB, 4 * kP)));
  EXPECT_EQ(s_, before);
}

TEST_F(ZapTest, ZapTwiceEqualsZapOnce) {
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kA, kA + kP, 4 * kP)));
  const System once = s_;
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kA, kA + kP, 4 * kP)));
  EXPECT_EQ(s_, once);
}

TEST_F(ZapTest, AdjacentRangesEqualTheirUnion) {
  //   [a ===== b) [b ====== c)   ==   [a ============ c)
  System split = s_;
  System whole = s_;
  EXPECT_TRUE(Zapped(split.zap_page_range_single(kA, kA + kP, 3 * kP)));
  EXPECT_TRUE(Zapped(split.zap_page_range_single(kA, kA + 4 * kP, 3 * kP)));
  EXPECT_TRUE(Zapped(whole.zap_page_range_single(kA, kA + kP, 6 * kP)));
  EXPECT_EQ(split, whole);
  EXPECT_EQ(whole.rss(), (Rss{0, 2}));
}

TEST(Zap, ZeroPagePteIsOnlyCleared) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  ASSERT_TRUE(s.page(kLo)->zero_page);
  const TableCounts tables = s.table_counts();
  EXPECT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, 2 * kP)));
  EXPECT_FALSE(s.page(kLo).has_value());
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_TRUE(s.folios().empty());
  EXPECT_EQ(s.table_counts(), tables);
  ExpectInvariants(s);
}

// ---- File folios -------------------------------------------------------------

TEST(Zap, SharedFileFolioKeepsCacheRefDirtyAndAccessed) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo + 3, 0x66)));  // page 0: dirty PTE
  ASSERT_TRUE(IsOk(s.read(kLo + kP)));        // page 1: young PTE
  ASSERT_TRUE(s.page(kLo)->dirty);
  ASSERT_TRUE(s.page(kLo + kP)->young);
  const FolioId f0 = CachedFolio(s, f, 0);
  const FolioId f1 = CachedFolio(s, f, 1);
  const TableCounts tables = s.table_counts();

  EXPECT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, 2 * kP)));
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_EQ(PresentPages(s, kLo, kLo + 2 * kP), 0u);
  EXPECT_EQ(s.table_counts(), tables);
  ASSERT_NE(FindFolio(s, f0), nullptr) << "the page cache keeps the folio";
  ASSERT_NE(FindFolio(s, f1), nullptr);
  EXPECT_EQ(CachedFolio(s, f, 0), f0);
  EXPECT_EQ(FindFolio(s, f0)->refcount, 1u);
  EXPECT_EQ(FindFolio(s, f1)->refcount, 1u);
  EXPECT_TRUE(FindFolio(s, f0)->dirty) << "a dirty PTE marks the folio dirty";
  EXPECT_TRUE(FindFolio(s, f1)->accessed) << "a young PTE marks the folio accessed";
  EXPECT_FALSE(FindFolio(s, f1)->dirty);
  // The data reaches the backing store.
  EXPECT_EQ(s.file_page(f, 0).get(3), 0x66);
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0).get(3), 0x66);
  ExpectInvariants(s);
}

TEST(Zap, CleanPteDoesNotDirtyTheFolio) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  ASSERT_TRUE(IsOk(s.writeback(f)));  // cleans folio and PTE
  ASSERT_FALSE(s.page(kLo)->dirty);
  EXPECT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, kP)));
  EXPECT_FALSE(FindFolio(s, CachedFolio(s, f, 0))->dirty);
}

TEST(Zap, OldPteLeavesAccessedAlone) {
  // Fault-around maps neighbours not young; zapping them must not change the
  // folio's accessed bit.
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  ASSERT_TRUE(s.page(kLo + kP).has_value());
  ASSERT_FALSE(s.page(kLo + kP)->young);
  const FolioId f1 = CachedFolio(s, f, 1);
  const bool accessed = FindFolio(s, f1)->accessed;
  EXPECT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo + kP, kP)));
  EXPECT_EQ(FindFolio(s, f1)->accessed, accessed);
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
}

TEST(Zap, PrivateFileMappingRevertsToFileContents) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1, 0x50), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.write(kLo, 0xff)));
  ASSERT_EQ(s.rss(), (Rss{0, 1}));
  const FolioId copy = FolioAt(s, kLo);
  EXPECT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, kP)));
  EXPECT_EQ(FindFolio(s, copy), nullptr);
  EXPECT_EQ(s.rss(), Rss{});
  auto r = s.read(kLo);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r.value(), 0x50);
  EXPECT_EQ(FolioAt(s, kLo), CachedFolio(s, f, 0));
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
  EXPECT_EQ(s.peek(kLo), s.disk_page(f, 0));
  ExpectInvariants(s);
}

TEST(Zap, DriverPageKeepsTheCallersPin) {
  System s(kLo, kHi);
  Map(s, DriverAt(kLo, 2 * kP));
  auto page = s.alloc_page();
  ASSERT_TRUE(IsOk(page));
  ASSERT_TRUE(IsOk(s.vm_insert_page(kLo, kLo, page.value())));
  ASSERT_EQ(FindFolio(s, page.value())->refcount, 2u);
  EXPECT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, 2 * kP)));
  ASSERT_NE(FindFolio(s, page.value()), nullptr);
  EXPECT_EQ(FindFolio(s, page.value())->refcount, 1u);
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_FALSE(s.page(kLo).has_value());
  ExpectInvariants(s);
}

// ---- Transparent huge pages ---------------------------------------------------

class ZapThpTest : public ::testing::Test {
 protected:
  //   kLo                  kLo+2MiB              kLo+4MiB
  //   |====== THP 0 =======|====== THP 1 =======|   (HUGEPAGE VMA)
  void SetUp() override {
    ASSERT_EQ(Map(s_, AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage)), kLo);
    for (Addr off : {Addr{0}, kP, 5 * kP, kPmdSize - kP}) {
      ASSERT_TRUE(IsOk(s_.write(kLo + off, Tag(off))));
      ASSERT_TRUE(IsOk(s_.write(kLo + kPmdSize + off, Tag(off + kPmdSize))));
    }
    ASSERT_TRUE(s_.page(kLo)->pmd_mapped);
    ASSERT_TRUE(s_.page(kLo + kPmdSize)->pmd_mapped);
    ASSERT_EQ(s_.rss(), (Rss{0, 1024}));
    ASSERT_EQ(s_.table_counts(), (TableCounts{0, 1, 1}));
    thp0_ = FolioAt(s_, kLo);
    thp1_ = FolioAt(s_, kLo + kPmdSize);
  }
  static std::uint8_t Tag(Addr off) {
    return static_cast<std::uint8_t>(0x80 + (off >> kPageShift) % 100);
  }
  System s_{kLo, kHi};
  FolioId thp0_ = 0;
  FolioId thp1_ = 0;
};

TEST_F(ZapThpTest, WholePmdIsRemovedWithoutSplitting) {
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kLo, kLo, kPmdSize)));
  EXPECT_EQ(FindFolio(s_, thp0_), nullptr);
  EXPECT_EQ(s_.rss(), (Rss{0, 512}));
  EXPECT_EQ(s_.table_counts(), (TableCounts{0, 1, 1})) << "no split, no table freed";
  EXPECT_FALSE(s_.page(kLo).has_value());
  EXPECT_FALSE(s_.page(kLo + kPmdSize - kP).has_value());
  EXPECT_TRUE(s_.page(kLo + kPmdSize)->pmd_mapped);
  ExpectInvariants(s_);
  // The slot is empty again: the next fault maps a new THP.
  ASSERT_TRUE(IsOk(s_.read(kLo + kP)));
  EXPECT_TRUE(s_.page(kLo + kP)->pmd_mapped);
  EXPECT_EQ(s_.read(kLo + kP).value(), 0);
}

TEST_F(ZapThpTest, BothPmdsInsideARangeAreRemoved) {
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kLo, kLo, 2 * kPmdSize)));
  EXPECT_TRUE(s_.folios().empty());
  EXPECT_EQ(s_.rss(), Rss{});
  EXPECT_EQ(s_.table_counts(), (TableCounts{0, 1, 1}));
  ExpectInvariants(s_);
}

TEST_F(ZapThpTest, PartlyCoveredPmdIsSplitAndOnlyTheRangeZapped) {
  //   kLo  +1p  +2p       +5p                 +2MiB
  //   |====|====[== zap ==)====================|
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kLo, kLo + 2 * kP, 3 * kP)));
  EXPECT_EQ(s_.table_counts(), (TableCounts{1, 1, 1})) << "split links a PTE table";
  const Folio* f = FindFolio(s_, thp0_);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->order, 9u);
  EXPECT_EQ(f->refcount, 512u - 3u);
  EXPECT_EQ(s_.rss(), (Rss{0, 1024 - 3}));
  for (int i = 2; i < 5; ++i) EXPECT_FALSE(s_.page(kLo + i * kP).has_value()) << i;
  for (Addr off : {Addr{0}, kP, 5 * kP, kPmdSize - kP}) {
    auto v = s_.page(kLo + off);
    ASSERT_TRUE(v.has_value()) << off;
    EXPECT_FALSE(v->pmd_mapped);
    EXPECT_EQ(v->folio, thp0_);
    EXPECT_EQ(v->subpage, off >> kPageShift);
    EXPECT_EQ(s_.read(kLo + off).value(), Tag(off)) << "contents survive the split";
  }
  EXPECT_TRUE(s_.page(kLo + kPmdSize)->pmd_mapped) << "the other THP is untouched";
  ExpectInvariants(s_);
}

TEST_F(ZapThpTest, LastPageOfAPmd) {
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kLo, kLo + kPmdSize - kP, kP)));
  EXPECT_EQ(FindFolio(s_, thp0_)->refcount, 511u);
  EXPECT_EQ(s_.rss().anon, 1023);
  EXPECT_FALSE(s_.page(kLo + kPmdSize - kP).has_value());
  EXPECT_EQ(s_.table_counts().pte, 1u);
  ExpectInvariants(s_);
}

TEST_F(ZapThpTest, RangeAcrossTwoPmdsSplitsBoth) {
  //   |====== THP 0 =======|====== THP 1 =======|
  //             [========= zap ========)
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kLo, kLo + kPmdSize / 2, kPmdSize)));
  EXPECT_EQ(s_.table_counts(), (TableCounts{2, 1, 1}));
  EXPECT_EQ(FindFolio(s_, thp0_)->refcount, 256u);
  EXPECT_EQ(FindFolio(s_, thp1_)->refcount, 256u);
  EXPECT_EQ(s_.rss(), (Rss{0, 512}));
  EXPECT_EQ(s_.read(kLo + kP).value(), Tag(kP));
  EXPECT_EQ(s_.read(kLo + kPmdSize + kPmdSize - kP).value(), Tag(2 * kPmdSize - kP));
  EXPECT_FALSE(s_.page(kLo + kPmdSize - kP).has_value());
  ExpectInvariants(s_);
}

TEST_F(ZapThpTest, ZappingEveryPageAfterASplitFreesTheFolioButKeepsTheTable) {
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kLo, kLo, kP)));
  EXPECT_TRUE(Zapped(s_.zap_page_range_single(kLo, kLo + kP, kPmdSize - kP)));
  EXPECT_EQ(FindFolio(s_, thp0_), nullptr);
  EXPECT_EQ(s_.rss(), (Rss{0, 512}));
  EXPECT_EQ(s_.table_counts(), (TableCounts{1, 1, 1}));
  ExpectInvariants(s_);
}

// ---- Sparse ranges ------------------------------------------------------------

TEST(Zap, SparseTerabyteRange) {
  // 1 TiB VMA with three pages touched, in different PUD/PGD regions.
  constexpr Addr kBase = Addr{1} << 44;  // 16 TiB, 512 GiB aligned
  constexpr Addr kLen = Addr{1} << 40;
  System s(kLo, kHi);
  ASSERT_EQ(Map(s, AnonAt(kBase, kLen)), kBase);
  for (Addr off : {Addr{0}, Addr{3} << 30, kLen - kP}) {
    ASSERT_TRUE(IsOk(s.write(kBase + off, 1)));
  }
  EXPECT_EQ(s.rss().anon, 3);
  const TableCounts tables = s.table_counts();
  EXPECT_EQ(tables, (TableCounts{3, 3, 2}));
  EXPECT_TRUE(Zapped(s.zap_page_range_single(kBase, kBase, kLen)));
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_TRUE(s.folios().empty());
  EXPECT_EQ(s.table_counts(), tables);
  ExpectInvariants(s);
}

}  // namespace
}  // namespace mmv::model::test
