// Files, the page cache and writeback (SPEC.md section 4; system.h: shared
// file mappings are write-notified, writeback write-protects and cleans every
// PTE of the folio it writes, so no write is ever lost).

#include <gtest/gtest.h>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

TEST(Files, WarmFileHasCleanCachedFolios) {
  System s(kLo, kHi);
  const auto contents = MarkedPages(3);
  FileId f = s.create_file(contents, System::Cache::kWarm);
  ASSERT_EQ(s.files().count(f), 1u);
  const File& file = s.files().at(f);
  EXPECT_EQ(file.size_pages, 3u);
  EXPECT_EQ(file.backing, contents);
  EXPECT_EQ(file.page_cache.size(), 3u);
  for (std::uint64_t i = 0; i < 3; ++i) {
    const Folio* fo = FindFolio(s, CachedFolio(s, f, i));
    ASSERT_NE(fo, nullptr) << i;
    EXPECT_EQ(fo->kind, FolioKind::kPageCache);
    EXPECT_EQ(fo->file, f);
    EXPECT_EQ(fo->index, i);
    EXPECT_EQ(fo->refcount, 1u);
    EXPECT_FALSE(fo->dirty);
    EXPECT_EQ(fo->pages.at(0), contents[i]);
    EXPECT_EQ(s.file_page(f, i), contents[i]);
    EXPECT_EQ(s.disk_page(f, i), contents[i]);
  }
  ExpectInvariants(s);
}

TEST(Files, ColdFileHasAnEmptyCache) {
  System s(kLo, kHi);
  const auto contents = MarkedPages(2);
  FileId f = s.create_file(contents, System::Cache::kCold);
  EXPECT_TRUE(s.files().at(f).page_cache.empty());
  EXPECT_TRUE(s.folios().empty());
  EXPECT_EQ(s.file_page(f, 1), contents[1]);
  EXPECT_EQ(s.disk_page(f, 1), contents[1]);
  FileId g = s.create_file(contents);
  EXPECT_NE(f, g);
  EXPECT_EQ(s.files().at(g).page_cache.size(), 2u) << "kWarm is the default";
}

TEST(Writeback, WritesDirtyFoliosCleansThemAndWriteProtectsPtes) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(3), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 3 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo + 10, 0xa0)));
  ASSERT_TRUE(IsOk(s.write(kLo + kP + 20, 0xa1)));
  ASSERT_TRUE(IsOk(s.read(kLo + 2 * kP)));  // clean, mapped
  const Rss rss = s.rss();

  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0).get(10), 0xa0);
  EXPECT_EQ(s.disk_page(f, 1).get(20), 0xa1);
  EXPECT_EQ(s.disk_page(f, 2), MarkedPages(3)[2]);
  for (int i = 0; i < 3; ++i) {
    const Folio* fo = FindFolio(s, CachedFolio(s, f, i));
    ASSERT_NE(fo, nullptr);
    EXPECT_FALSE(fo->dirty) << i;
    auto v = s.page(kLo + i * kP);
    ASSERT_TRUE(v.has_value()) << i << ": writeback does not unmap";
    EXPECT_FALSE(v->writable) << i;
    EXPECT_FALSE(v->dirty) << i;
  }
  EXPECT_EQ(s.rss(), rss);
  ExpectInvariants(s);
}

TEST(Writeback, NextWriteFaultsAndRedirtiesSoNoDataIsLost) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo + 1, 0x01)));
  ASSERT_TRUE(IsOk(s.writeback(f)));
  const FolioId c = CachedFolio(s, f, 0);
  ASSERT_FALSE(FindFolio(s, c)->dirty);

  ASSERT_TRUE(IsOk(s.write(kLo + 2, 0x02)));
  EXPECT_TRUE(s.page(kLo)->writable);
  EXPECT_TRUE(s.page(kLo)->dirty);
  EXPECT_TRUE(FindFolio(s, c)->dirty) << "the second write re-dirtied the folio";
  EXPECT_EQ(FolioAt(s, kLo), c);
  EXPECT_NE(s.disk_page(f, 0).get(2), 0x02) << "not yet written back";

  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0).get(1), 0x01);
  EXPECT_EQ(s.disk_page(f, 0).get(2), 0x02);
  EXPECT_FALSE(FindFolio(s, c)->dirty);
  ExpectInvariants(s);
}

TEST(Writeback, NothingDirtyChangesNothing) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  const System before = s;
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s, before);
}

TEST(Writeback, OnlyTheNamedFile) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  FileId g = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/true));
  Map(s, FileAt(g, 0, kLo + kP, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo, 0x70)));
  ASSERT_TRUE(IsOk(s.write(kLo + kP, 0x71)));
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0).get(0), 0x70);
  EXPECT_NE(s.disk_page(g, 0).get(0), 0x71);
  EXPECT_TRUE(FindFolio(s, CachedFolio(s, g, 0))->dirty);
  EXPECT_TRUE(s.page(kLo + kP)->writable);
}

TEST(Writeback, EveryPteOfTheFolioIsWriteProtected) {
  // Two shared mappings of the same file page share one folio.
  //   kLo        kLo+1p       kLo+4p      kLo+5p
  //   |- map A --|            |- map B ---|      (both: file page 0)
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/true));
  Map(s, FileAt(f, 0, kLo + 4 * kP, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo + 8, 0x31)));
  ASSERT_TRUE(IsOk(s.write(kLo + 4 * kP + 9, 0x32)));
  EXPECT_EQ(FolioAt(s, kLo), FolioAt(s, kLo + 4 * kP));
  EXPECT_EQ(s.read(kLo + 9).value(), 0x32) << "B's write is visible through A";
  EXPECT_EQ(FindFolio(s, FolioAt(s, kLo))->refcount, 3u);
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_FALSE(s.page(kLo)->writable);
  EXPECT_FALSE(s.page(kLo)->dirty);
  EXPECT_FALSE(s.page(kLo + 4 * kP)->writable);
  EXPECT_FALSE(s.page(kLo + 4 * kP)->dirty);
  EXPECT_EQ(s.disk_page(f, 0).get(8), 0x31);
  EXPECT_EQ(s.disk_page(f, 0).get(9), 0x32);
  // A write through either mapping re-dirties.
  ASSERT_TRUE(IsOk(s.write(kLo + 4 * kP + 10, 0x33)));
  EXPECT_TRUE(FindFolio(s, FolioAt(s, kLo))->dirty);
  EXPECT_FALSE(s.page(kLo)->writable) << "only the faulting PTE became writable";
  ExpectInvariants(s);
}

TEST(Writeback, PrivateCopiesAreNeverWritten) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.write(kLo, 0x99)));
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0), MarkedPages(1)[0]);
  EXPECT_TRUE(s.page(kLo)->writable) << "an anonymous copy is not write-protected";
  EXPECT_EQ(s.read(kLo).value(), 0x99);
}

TEST(Writeback, DataSurvivesZapAndMunmap) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo + 5, 0x41)));
  ASSERT_TRUE(IsOk(s.write(kLo + kP + 5, 0x42)));
  ASSERT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, kP)));
  ASSERT_TRUE(IsOk(s.munmap(kLo + kP, kP)));
  EXPECT_EQ(s.file_page(f, 0).get(5), 0x41);
  EXPECT_EQ(s.file_page(f, 1).get(5), 0x42);
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0).get(5), 0x41);
  EXPECT_EQ(s.disk_page(f, 1).get(5), 0x42);
  // And faulting it back in shows the same data.
  EXPECT_EQ(s.read(kLo + 5).value(), 0x41);
  ExpectInvariants(s);
}

TEST(Writeback, ColdFaultAfterWritebackReadsTheDisk) {
  // A different mapping of a file written back earlier sees the data.
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo + 100, 0x5c)));
  ASSERT_TRUE(IsOk(s.munmap(kLo, kP)));
  ASSERT_TRUE(IsOk(s.writeback(f)));
  Map(s, FileAt(f, 0, kLo + 8 * kP, kP, /*shared=*/false, kR));
  EXPECT_EQ(s.read(kLo + 8 * kP + 100).value(), 0x5c);
}

}  // namespace
}  // namespace mmv::model::test
