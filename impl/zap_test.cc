// VmaRef::zap_page_range_single on the impl (SPEC.md section 5), checked
// against the model with Twin: every zap runs on both sides and the whole
// observable state is compared afterwards. Also the TLB-flush batching
// (impl/mmu_gather.h), the zap reached through the real guard-based API,
// and zaps racing with faults.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "impl/mmu_gather.h"
#include "impl/test_peer.h"
#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

using model::test::CachedFolio;
using model::test::FindFolio;
using model::test::FolioAt;
using model::test::PresentPages;
using model::test::SameExceptDiagnostics;

// Two adjacent anonymous VMAs, every page of A written. B is read-only so
// that the two do not merge:
//   kLo                          kLo+8p          kLo+12p
//   |------------ A (RW) --------|---- B (R) -----|
//    0x10 0x11 ...          0x17
class ImplZapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(t_.map(AnonAt(kA, 8 * kP)), kA);
    ASSERT_EQ(t_.map(AnonAt(kB, 4 * kP, kR)), kB);
    for (int i = 0; i < 8; ++i) {
      ASSERT_TRUE(IsOk(t_.write(kA + i * kP + 1, static_cast<std::uint8_t>(0x10 + i))));
    }
    ASSERT_EQ(t_.mm().rss(), (Rss{0, 8}));
    t_.ExpectSameState();
  }

  // A rejected zap changes nothing but the counter, on both sides.
  void ExpectRejected(Addr vma_addr, Addr address, std::uint64_t size) {
    SCOPED_TRACE(::testing::Message() << std::hex << "vma_addr=0x" << vma_addr << " address=0x"
                                      << address << " size=0x" << size);
    const model::System before = t_.observed();
    const std::uint64_t flushes = t_.mm().tlb_flushes();
    EXPECT_TRUE(Rejected(t_.zap(vma_addr, address, size)));
    EXPECT_EQ(t_.mm().zap_rejections(), before.zap_rejections() + 1);
    EXPECT_EQ(t_.model.zap_rejections(), t_.mm().zap_rejections());
    const model::System after = t_.observed();
    EXPECT_TRUE(SameExceptDiagnostics(before, after));
    EXPECT_EQ(after.bugs(), before.bugs());
    EXPECT_EQ(t_.mm().tlb_flushes(), flushes) << "nothing was cleared, nothing to flush";
    t_.ExpectSameState();
  }

  static constexpr Addr kA = kLo;
  static constexpr Addr kB = kLo + 8 * kP;
  Twin t_;
};

// ---- Bad input --------------------------------------------------------------

TEST_F(ImplZapTest, NoVmaAtVmaAddr) {
  const model::System before = t_.observed();
  EXPECT_TRUE(IsErr(t_.zap(kLo + 12 * kP, kLo, kP), Errc::kNoVma)) << "just past B";
  EXPECT_TRUE(IsErr(t_.zap(kLo - kP, kLo, kP), Errc::kNoVma)) << "just before A";
  EXPECT_TRUE(before == t_.observed()) << "not even the rejection counter moves";
  t_.ExpectSameState();
}

TEST_F(ImplZapTest, OverflowIsRejected) {
  EXPECT_EQ(t_.mm().zap_rejections(), 0u);
  // address + size == 2^64 wraps to 0 (which would pass an "end <= end()"
  // check on its own).
  ExpectRejected(kA, kA, ~std::uint64_t{0} - kA + 1);
  ExpectRejected(kA, kA + kP, ~std::uint64_t{0});
  EXPECT_EQ(t_.mm().zap_rejections(), 2u);
}

TEST_F(ImplZapTest, AddressBelowStartIsRejected) {
  //   |------ A ------|------ B ------|
  //              [== zap on B ==)
  ExpectRejected(kB, kB - kP, 2 * kP);
  ExpectRejected(kB, kA, kP);
  ExpectRejected(kA, kA - kP, kP);
  ExpectRejected(kB, kB - 1, 1);  // one byte below start
}

TEST_F(ImplZapTest, EndPastVmaEndIsRejected) {
  //   |------ A ------|------ B ------|
  //   [===== zap on A =====)
  ExpectRejected(kA, kA, 9 * kP);
  ExpectRejected(kA, kA + 7 * kP, kP + 1);
  ExpectRejected(kA, kB, kP);  // a range inside the neighbouring VMA
  ExpectRejected(kB, kB, 4 * kP + 1);
  EXPECT_EQ(t_.mm().zap_rejections(), 4u);
}

TEST_F(ImplZapTest, SizeZeroZapsNothing) {
  const model::System before = t_.observed();
  const std::uint64_t flushes = t_.mm().tlb_flushes();
  EXPECT_TRUE(Zapped(t_.zap(kA, kA + kP, 0)));
  EXPECT_TRUE(Zapped(t_.zap(kA, kB, 0))) << "at the end of A";
  EXPECT_TRUE(before == t_.observed()) << model::diff(before, t_.observed());
  EXPECT_EQ(t_.mm().zap_rejections(), 0u) << "size 0 is valid input, not a rejection";
  EXPECT_EQ(t_.mm().tlb_flushes(), flushes);
  t_.ExpectSameState();
}

// ---- Valid ranges -------------------------------------------------------------

TEST_F(ImplZapTest, ClearsExactlyTheRangeFreesAnonFoliosKeepsTables) {
  //   kLo   +2p          +5p         +8p
  //   |-----[=== zap ====)-----------|
  const TableCounts tables = t_.mm().table_counts();
  const FolioId gone = FolioAt(t_.observed(), kA + 3 * kP);
  ASSERT_NE(gone, 0u);
  // vma_addr may be any address inside the VMA.
  EXPECT_TRUE(Zapped(t_.zap(kA + 7 * kP + 5, kA + 2 * kP, 3 * kP)));
  const model::System seen = t_.observed();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(seen.page(kA + i * kP).has_value(), i < 2 || i >= 5) << i;
  EXPECT_EQ(t_.mm().rss(), (Rss{0, 5}));
  EXPECT_EQ(seen.folios().size(), 5u);
  EXPECT_EQ(FindFolio(seen, gone), nullptr) << "an unmapped anon folio is freed";
  EXPECT_EQ(t_.mm().table_counts(), tables) << "zap must not free page tables";
  EXPECT_EQ(t_.mm().vmas().size(), 2u) << "zap does not touch VMAs";
  EXPECT_EQ(t_.mm().zap_rejections(), 0u);
  t_.ExpectSameState();
  EXPECT_EQ(t_.read(kA + kP + 1).value(), 0x11);
  EXPECT_EQ(t_.read(kA + 5 * kP + 1).value(), 0x15);
  EXPECT_EQ(t_.read(kA + 3 * kP + 1).value(), 0) << "zapped anon memory reads back as zero";
  t_.ExpectSameState();
}

TEST_F(ImplZapTest, UnalignedRangeZapsEveryPageItTouches) {
  //   kLo   +1p   +1p+5     +3p+1     +4p
  //   |-----|-----[===== zap ===)-----|
  // The range ends one byte into page 3, so pages 1, 2 and 3 all go.
  EXPECT_TRUE(Zapped(t_.zap(kA, kA + kP + 5, 2 * kP - 4)));
  const model::System seen = t_.observed();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(seen.page(kA + i * kP).has_value(), i < 1 || i > 3) << i;
  EXPECT_EQ(t_.mm().rss(), (Rss{0, 5}));
  t_.ExpectSameState();
  // A single byte zaps its whole page.
  EXPECT_TRUE(Zapped(t_.zap(kA, kA + 6 * kP + 100, 1)));
  EXPECT_FALSE(t_.observed().page(kA + 6 * kP).has_value());
  EXPECT_EQ(t_.mm().rss(), (Rss{0, 4}));
  t_.ExpectSameState();
}

TEST_F(ImplZapTest, EmptyRangeAndRepeatedZapAreNoOps) {
  const std::uint64_t flushes = t_.mm().tlb_flushes();
  const model::System before = t_.observed();
  EXPECT_TRUE(Zapped(t_.zap(kB, kB, 4 * kP))) << "B was never touched";
  EXPECT_TRUE(before == t_.observed());
  EXPECT_EQ(t_.mm().tlb_flushes(), flushes) << "no page was gathered";
  EXPECT_TRUE(Zapped(t_.zap(kA, kA + kP, 4 * kP)));
  const model::System once = t_.observed();
  EXPECT_TRUE(Zapped(t_.zap(kA, kA + kP, 4 * kP)));
  EXPECT_TRUE(once == t_.observed()) << model::diff(once, t_.observed());
  t_.ExpectSameState();
}

TEST(ImplZap, ZeroPagePteIsOnlyCleared) {
  Twin t;
  t.map(AnonAt(kLo, 2 * kP));
  ASSERT_TRUE(IsOk(t.read(kLo)));
  ASSERT_TRUE(t.observed().page(kLo)->zero_page);
  ASSERT_EQ(t.mm().rss(), Rss{}) << "the zero page is not counted";
  const TableCounts tables = t.mm().table_counts();
  EXPECT_TRUE(Zapped(t.zap(kLo, kLo, 2 * kP)));
  const model::System seen = t.observed();
  EXPECT_FALSE(seen.page(kLo).has_value());
  EXPECT_TRUE(seen.folios().empty());
  EXPECT_EQ(t.mm().rss(), Rss{});
  EXPECT_EQ(t.mm().table_counts(), tables);
  t.ExpectSameState();
}

// ---- File and driver folios ----------------------------------------------------

TEST(ImplZap, SharedFileFolioKeepsCacheRefGetsDirtyAndAccessed) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(2), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + 3, 0x66)));  // page 0: dirty PTE
  ASSERT_TRUE(IsOk(t.read(kLo + kP)));        // page 1: young, clean PTE
  {
    const model::System seen = t.observed();
    ASSERT_TRUE(seen.page(kLo)->dirty);
    ASSERT_TRUE(seen.page(kLo + kP)->young);
    ASSERT_FALSE(seen.page(kLo + kP)->dirty);
  }
  const TableCounts tables = t.mm().table_counts();
  ASSERT_EQ(t.mm().rss(), (Rss{2, 0}));

  EXPECT_TRUE(Zapped(t.zap(kLo, kLo, 2 * kP)));
  const model::System seen = t.observed();
  const FolioId f0 = CachedFolio(seen, f, 0);
  const FolioId f1 = CachedFolio(seen, f, 1);
  ASSERT_NE(FindFolio(seen, f0), nullptr) << "the page cache keeps the folio";
  ASSERT_NE(FindFolio(seen, f1), nullptr);
  EXPECT_EQ(FindFolio(seen, f0)->refcount, 1u) << "only the cache's reference is left";
  EXPECT_EQ(FindFolio(seen, f1)->refcount, 1u);
  EXPECT_TRUE(FindFolio(seen, f0)->dirty);
  EXPECT_TRUE(FindFolio(seen, f1)->accessed) << "a young PTE marks the folio accessed";
  EXPECT_FALSE(FindFolio(seen, f1)->dirty) << "a clean PTE does not dirty the folio";
  EXPECT_EQ(PresentPages(seen, kLo, kLo + 2 * kP), 0u);
  EXPECT_EQ(t.mm().rss(), Rss{});
  EXPECT_EQ(t.mm().table_counts(), tables);
  t.ExpectSameState();
  // The data is in the cache and reaches the disk.
  EXPECT_EQ(t.kernel.file_page(f, 0).get(3), 0x66);
  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(3), 0x66);
  t.ExpectSameState();
}

TEST(ImplZap, CleanPteLeavesTheFolioClean) {
  // Writeback cleans folio and PTE (folio_mkclean); zapping the clean PTE
  // must not make the folio dirty again (it would be written twice).
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  ASSERT_TRUE(IsOk(t.writeback(f)));
  ASSERT_FALSE(t.observed().page(kLo)->dirty);
  EXPECT_TRUE(Zapped(t.zap(kLo, kLo, kP)));
  const model::System seen = t.observed();
  EXPECT_FALSE(FindFolio(seen, CachedFolio(seen, f, 0))->dirty);
  t.ExpectSameState();
}

TEST(ImplZap, PrivateFileCopyIsFreedAndTheFileShowsThrough) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(1, 0x50), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.write(kLo, 0xff)));
  ASSERT_EQ(t.mm().rss(), (Rss{0, 1}));
  const FolioId copy = FolioAt(t.observed(), kLo);
  EXPECT_TRUE(Zapped(t.zap(kLo, kLo, kP)));
  EXPECT_EQ(FindFolio(t.observed(), copy), nullptr);
  EXPECT_EQ(t.mm().rss(), Rss{});
  t.ExpectSameState();
  EXPECT_EQ(t.read(kLo).value(), 0x50);
  EXPECT_EQ(t.mm().rss(), (Rss{1, 0}));
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(0), 0x50) << "the private write never reached the file";
  t.ExpectSameState();
}

TEST(ImplZap, DriverPageKeepsTheCallersPin) {
  Twin t;
  t.map(DriverAt(kLo, 2 * kP));
  auto page = t.alloc_page();
  ASSERT_TRUE(IsOk(page));
  ASSERT_TRUE(IsOk(t.vm_insert_page(kLo, kLo, page.value())));
  ASSERT_EQ(FindFolio(t.observed(), page.value())->refcount, 2u);
  EXPECT_TRUE(Zapped(t.zap(kLo, kLo, 2 * kP)));
  const model::System seen = t.observed();
  ASSERT_NE(FindFolio(seen, page.value()), nullptr);
  EXPECT_EQ(FindFolio(seen, page.value())->refcount, 1u);
  EXPECT_EQ(t.mm().rss(), Rss{});
  t.ExpectSameState();
  // The caller's own put frees it.
  ASSERT_TRUE(IsOk(t.put_page(page.value())));
  EXPECT_EQ(FindFolio(t.observed(), page.value()), nullptr);
  t.ExpectSameState();
}

// ---- Transparent huge pages -------------------------------------------------------

class ImplZapThpTest : public ::testing::Test {
 protected:
  //   kLo                  kLo+2MiB              kLo+4MiB
  //   |====== THP 0 =======|====== THP 1 =======|   (HUGEPAGE VMA)
  void SetUp() override {
    ASSERT_EQ(t_.map(AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage)), kLo);
    for (Addr off : {Addr{0}, kP, 5 * kP, kPmdSize - kP}) {
      ASSERT_TRUE(IsOk(t_.write(kLo + off, Tag(off))));
      ASSERT_TRUE(IsOk(t_.write(kLo + kPmdSize + off, Tag(off + kPmdSize))));
    }
    const model::System seen = t_.observed();
    ASSERT_TRUE(seen.page(kLo)->pmd_mapped);
    ASSERT_TRUE(seen.page(kLo + kPmdSize)->pmd_mapped);
    ASSERT_EQ(t_.mm().rss(), (Rss{0, 1024}));
    ASSERT_EQ(t_.mm().table_counts(), (TableCounts{0, 1, 1}));
    thp0_ = FolioAt(seen, kLo);
    thp1_ = FolioAt(seen, kLo + kPmdSize);
    t_.ExpectSameState();
  }
  static std::uint8_t Tag(Addr off) {
    return static_cast<std::uint8_t>(0x80 + (off >> kPageShift) % 100);
  }
  Twin t_;
  FolioId thp0_ = 0;
  FolioId thp1_ = 0;
};

TEST_F(ImplZapThpTest, WholePmdIsRemovedWithoutSplitting) {
  const std::uint64_t flushes = t_.mm().tlb_flushes();
  EXPECT_TRUE(Zapped(t_.zap(kLo, kLo, kPmdSize)));
  const model::System seen = t_.observed();
  EXPECT_EQ(FindFolio(seen, thp0_), nullptr);
  EXPECT_EQ(t_.mm().rss(), (Rss{0, 512}));
  EXPECT_EQ(t_.mm().table_counts(), (TableCounts{0, 1, 1})) << "no split, no table freed";
  EXPECT_FALSE(seen.page(kLo).has_value());
  EXPECT_FALSE(seen.page(kLo + kPmdSize - kP).has_value());
  EXPECT_TRUE(seen.page(kLo + kPmdSize)->pmd_mapped);
  EXPECT_EQ(t_.mm().tlb_flushes(), flushes + 1) << "one THP, one batch, one flush";
  t_.ExpectSameState();
  // The slot is empty again: the next fault maps a new, zeroed THP.
  EXPECT_EQ(t_.read(kLo + kP).value(), 0);
  EXPECT_TRUE(t_.observed().page(kLo + kP)->pmd_mapped);
  t_.ExpectSameState();
}

TEST_F(ImplZapThpTest, PartlyCoveredPmdIsSplitAndOnlyTheRangeZapped) {
  //   kLo  +1p  +2p       +5p                 +2MiB
  //   |====|====[== zap ==)====================|
  EXPECT_TRUE(Zapped(t_.zap(kLo, kLo + 2 * kP, 3 * kP)));
  EXPECT_EQ(t_.mm().table_counts(), (TableCounts{1, 1, 1})) << "the split links a PTE table";
  const model::System seen = t_.observed();
  const model::Folio* f = FindFolio(seen, thp0_);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->order, 9u);
  EXPECT_EQ(f->refcount, 512u - 3u);
  EXPECT_EQ(t_.mm().rss(), (Rss{0, 1024 - 3}));
  for (int i = 2; i < 5; ++i) EXPECT_FALSE(seen.page(kLo + i * kP).has_value()) << i;
  for (Addr off : {Addr{0}, kP, 5 * kP, kPmdSize - kP}) {
    auto v = seen.page(kLo + off);
    ASSERT_TRUE(v.has_value()) << off;
    EXPECT_FALSE(v->pmd_mapped);
    EXPECT_EQ(v->folio, thp0_);
    EXPECT_EQ(v->subpage, off >> kPageShift);
  }
  EXPECT_TRUE(seen.page(kLo + kPmdSize)->pmd_mapped) << "the other THP is untouched";
  t_.ExpectSameState();
  for (Addr off : {Addr{0}, kP, 5 * kP, kPmdSize - kP})
    EXPECT_EQ(t_.read(kLo + off).value(), Tag(off)) << "contents survive the split";
  t_.ExpectSameState();
}

TEST_F(ImplZapThpTest, RangeAcrossTwoPmdsSplitsBoth) {
  //   |====== THP 0 =======|====== THP 1 =======|
  //             [========= zap ========)
  EXPECT_TRUE(Zapped(t_.zap(kLo, kLo + kPmdSize / 2, kPmdSize)));
  EXPECT_EQ(t_.mm().table_counts(), (TableCounts{2, 1, 1}));
  const model::System seen = t_.observed();
  EXPECT_EQ(FindFolio(seen, thp0_)->refcount, 256u);
  EXPECT_EQ(FindFolio(seen, thp1_)->refcount, 256u);
  EXPECT_EQ(t_.mm().rss(), (Rss{0, 512}));
  t_.ExpectSameState();
  EXPECT_EQ(t_.read(kLo + kP).value(), Tag(kP));
  EXPECT_EQ(t_.read(kLo + 2 * kPmdSize - kP).value(), Tag(2 * kPmdSize - kP));
  t_.ExpectSameState();
}

TEST_F(ImplZapThpTest, ZappingEveryPageAfterASplitFreesTheFolioButKeepsTheTable) {
  EXPECT_TRUE(Zapped(t_.zap(kLo, kLo, kP)));
  EXPECT_TRUE(Zapped(t_.zap(kLo, kLo + kP, kPmdSize - kP)));
  EXPECT_EQ(FindFolio(t_.observed(), thp0_), nullptr);
  EXPECT_EQ(t_.mm().rss(), (Rss{0, 512}));
  EXPECT_EQ(t_.mm().table_counts(), (TableCounts{1, 1, 1}));
  t_.ExpectSameState();
}

// ---- TLB flush before free ----------------------------------------------------------

TEST(ImplZap, ZapOfAnonPagesFlushesTheTlb) {
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(IsOk(t.write(kLo + i * kP, 1)));
  const std::uint64_t before = t.mm().tlb_flushes();
  EXPECT_TRUE(Zapped(t.zap(kLo, kLo, 4 * kP)));
  EXPECT_EQ(t.mm().tlb_flushes(), before + 1) << "4 pages fit one batch";
  EXPECT_TRUE(t.observed().folios().empty()) << "and were freed after it";
  t.ExpectSameState();
}

TEST(ImplZap, MoreThanOneBatchFlushesMoreThanOnce) {
  // 600 present pages > MmuGather::kBatch: the gather fills, flushes (TLB,
  // then puts) mid-walk, and flushes the rest at the end.
  constexpr int kPages = 600;
  static_assert(kPages > static_cast<int>(MmuGather::kBatch));
  Twin t;
  t.map(AnonAt(kLo, kPages * kP));
  for (int i = 0; i < kPages; ++i) ASSERT_TRUE(IsOk(t.write(kLo + i * kP, 1)));
  ASSERT_EQ(t.mm().rss(), (Rss{0, kPages}));
  const std::uint64_t before = t.mm().tlb_flushes();
  EXPECT_TRUE(Zapped(t.zap(kLo, kLo, kPages * kP)));
  EXPECT_GE(t.mm().tlb_flushes(), before + 2);
  EXPECT_EQ(t.mm().rss(), Rss{});
  EXPECT_TRUE(t.observed().folios().empty());
  t.ExpectSameState();
}

TEST(ImplZap, MoreThanOneBatchLeavesNoTranslationBehind) {
  // Translations on three CPUs, in the first batch and past it, and in the
  // second PTE table: after the zap no CPU holds one in the range, and a
  // read on each finds the zero page.
  Twin t;
  const Addr lo = kLo + kPmdSize - 256 * kP;
  constexpr int kPages = 600;
  t.map(AnonAt(lo, kPages * kP));
  ASSERT_TRUE(IsOk(t.populate(lo, kPages * kP)));
  for (int cpu = 1; cpu < Tlbs::kCpus; ++cpu) {
    for (int page : {0, 127, 128, 129, 255, 256, 257, 599}) {
      const Addr a = lo + static_cast<Addr>(page) * kP;
      ASSERT_TRUE(IsOk(t.mm().write(a, static_cast<std::uint8_t>(cpu), cpu)));
      ASSERT_TRUE(IsOk(t.model.write(a, static_cast<std::uint8_t>(cpu))));
    }
  }
  EXPECT_TRUE(Zapped(t.zap(lo, lo, kPages * kP)));
  ASSERT_TRUE(IsOk(t.model.read(lo + 257 * kP)));
  for (int cpu = 0; cpu < Tlbs::kCpus; ++cpu) {
    for (Addr a : MmTestPeer::tlb_pages(t.mm(), cpu))
      EXPECT_FALSE(a >= lo && a < lo + kPages * kP) << "CPU " << cpu << " still maps 0x" << std::hex << a;
    EXPECT_EQ(t.mm().read(lo + 257 * kP, cpu).value(), 0);
  }
  t.ExpectSameState();
}

// ---- The real, guard-based API -------------------------------------------------------

TEST(ImplZap, ThroughMmapReadGuardAndVmaRef) {
  Twin t;
  const Addr a = t.map(AnonAt(kLo, 4 * kP));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(IsOk(t.write(a + i * kP, 7)));
  {
    MmapReadGuard g(t.mm());
    VmaRef* v = g.vma_lookup(a + kP);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->start(), a);
    EXPECT_EQ(v->end(), a + 4 * kP);
    EXPECT_EQ(v->zap_page_range_single(a + kP, 2 * kP), ZapOutcome::kZapped);
    EXPECT_EQ(v->zap_page_range_single(a, 5 * kP), ZapOutcome::kRejected);
    EXPECT_EQ(g.vma_lookup(a + 4 * kP), nullptr);
  }
  // The same on the model, to keep the twin in step.
  EXPECT_TRUE(Zapped(t.model.zap_page_range_single(a, a + kP, 2 * kP)));
  EXPECT_TRUE(Rejected(t.model.zap_page_range_single(a, a, 5 * kP)));
  EXPECT_EQ(t.mm().zap_rejections(), 1u);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 2}));
  t.ExpectSameState();
}

TEST(ImplZap, ThroughVmaReadGuard) {
  Twin t;
  const Addr a = t.map(AnonAt(kLo, 4 * kP));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(IsOk(t.write(a + i * kP, 7)));
  {
    std::optional<VmaReadGuard> vg = t.mm().lock_vma_under_rcu(a + 3 * kP);
    ASSERT_TRUE(vg.has_value());
    EXPECT_EQ((*vg)->zap_page_range_single(a + 3 * kP, kP), ZapOutcome::kZapped);
    EXPECT_EQ(vg->vma().zap_page_range_single(a - kP, kP), ZapOutcome::kRejected);
  }
  EXPECT_TRUE(Zapped(t.model.zap_page_range_single(a, a + 3 * kP, kP)));
  EXPECT_TRUE(Rejected(t.model.zap_page_range_single(a, a - kP, kP)));
  EXPECT_EQ(t.mm().rss(), (Rss{0, 3}));
  t.ExpectSameState();
}

// ---- Sparse ranges --------------------------------------------------------------------

TEST(ImplZap, SparseTerabyteRange) {
  // A 1 TiB VMA at a fixed 1 TiB-aligned address (fixed mappings ignore the
  // first-fit window), with a page touched at each end, in different PGD
  // entries. The walk skips the empty upper-level entries in between.
  constexpr Addr kBase = Addr{1} << 40;
  constexpr Addr kLen = Addr{1} << 40;
  Twin t;
  ASSERT_EQ(t.map(AnonAt(kBase, kLen)), kBase);
  ASSERT_TRUE(IsOk(t.write(kBase, 1)));
  ASSERT_TRUE(IsOk(t.write(kBase + kLen - kP, 2)));
  ASSERT_EQ(t.mm().rss(), (Rss{0, 2}));
  const TableCounts tables = t.mm().table_counts();
  EXPECT_EQ(tables, (TableCounts{2, 2, 2}));
  t.ExpectSameState();
  EXPECT_TRUE(Zapped(t.zap(kBase, kBase, kLen)));
  const model::System seen = t.observed();
  EXPECT_FALSE(seen.page(kBase).has_value());
  EXPECT_FALSE(seen.page(kBase + kLen - kP).has_value());
  EXPECT_TRUE(seen.folios().empty());
  EXPECT_EQ(t.mm().rss(), Rss{});
  EXPECT_EQ(t.mm().table_counts(), tables);
  t.ExpectSameState();
}

// ---- Concurrency -------------------------------------------------------------------------

TEST(ImplZap, ConcurrentZapsAndFaultsStayConsistent) {
  // Writers fault pages in (small pages and THPs, some split by partial
  // zaps) while zappers clear ranges, through both lock paths. Whatever the
  // interleaving: each writer reads back its own byte as written or as zero
  // (zapped anon memory), and afterwards the mm is consistent and a full
  // zap leaves nothing behind.
  //   kLo                kLo+2MiB            kLo+4MiB          +64p
  //   |==== THP-able ====|==== THP-able ====|  small-page VMA  |
  constexpr Addr kHuge = kLo;
  constexpr Addr kSmall = kLo + 2 * kPmdSize;
  constexpr int kSmallPages = 64;
  Twin t;
  ASSERT_EQ(t.map(AnonAt(kHuge, 2 * kPmdSize, kRW, flags::kHugePage)), kHuge);
  ASSERT_EQ(t.map(AnonAt(kSmall, kSmallPages * kP)), kSmall);

  MmWithUser& mm = t.mm();
  std::atomic<int> bad_reads{0};
  std::atomic<int> failed_ops{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      std::minstd_rand rng(100 + w);
      for (int i = 0; i < 300; ++i) {
        const bool huge = rng() % 2;
        const Addr base = huge ? kHuge : kSmall;
        const std::uint64_t pages = huge ? 2 * kPagesPerPmd : kSmallPages;
        // Writer w owns byte w of every page: no one else stores there.
        const Addr a = base + (rng() % pages) * kP + static_cast<Addr>(w);
        const auto v = static_cast<std::uint8_t>(1 + rng() % 250);
        if (!mm.write(a, v).ok()) ++failed_ops;
        auto r = mm.read(a);
        if (!r.ok()) {
          ++failed_ops;
        } else if (r.value() != v && r.value() != 0) {
          ++bad_reads;
        }
      }
    });
  }
  for (int z = 0; z < 2; ++z) {
    threads.emplace_back([&, z] {
      std::minstd_rand rng(200 + z);
      for (int i = 0; i < 150; ++i) {
        const bool huge = rng() % 2;
        const Addr base = huge ? kHuge : kSmall;
        const std::uint64_t pages = huge ? 2 * kPagesPerPmd : kSmallPages;
        const std::uint64_t first = rng() % pages;
        const std::uint64_t n = 1 + rng() % (pages - first);
        const Addr from = base + first * kP;
        if (z == 0) {
          if (!IsOk(mm.zap_page_range_single(base, from, n * kP))) ++failed_ops;
        } else if (auto vg = mm.lock_vma_under_rcu(from)) {
          if (vg->vma().zap_page_range_single(from, n * kP) != ZapOutcome::kZapped) ++failed_ops;
        } else {
          MmapReadGuard g(mm);
          VmaRef* v = g.vma_lookup(from);
          if (!v || v->zap_page_range_single(from, n * kP) != ZapOutcome::kZapped) ++failed_ops;
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_EQ(failed_ops.load(), 0);
  EXPECT_EQ(mm.zap_rejections(), 0u);
  ExpectNoViolations(mm.check_invariants(), "impl invariants after the race");
  EXPECT_TRUE(t.kernel.bugs().empty());
  // Nothing leaked or double-freed: zapping everything leaves no folio.
  EXPECT_TRUE(IsOk(mm.zap_page_range_single(kHuge, kHuge, 2 * kPmdSize)));
  EXPECT_TRUE(IsOk(mm.zap_page_range_single(kSmall, kSmall, kSmallPages * kP)));
  EXPECT_EQ(mm.rss(), Rss{});
  EXPECT_TRUE(t.observed().folios().empty());
  ExpectNoViolations(mm.check_invariants(), "impl invariants after the final zap");
  EXPECT_TRUE(t.kernel.bugs().empty());
}

}  // namespace
}  // namespace mmv::impl::test
