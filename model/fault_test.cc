// Faults through read()/write() (SPEC.md section 4; choices in system.h):
// zero page, anonymous folios, copy-on-write, file mappings, fault-around,
// SIGSEGV/SIGBUS, THP, allocation failure.

#include <gtest/gtest.h>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

// ===========================================================================
// Anonymous memory
// ===========================================================================

TEST(AnonFault, ReadMapsTheZeroPageNotCountedInRss) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  auto r = s.read(kLo + kP + 17);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r.value(), 0);
  auto v = s.page(kLo + kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->zero_page);
  EXPECT_FALSE(v->writable);
  EXPECT_FALSE(v->pmd_mapped);
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_TRUE(s.folios().empty()) << "the zero page is not a counted folio";
  EXPECT_EQ(s.table_counts(), (TableCounts{1, 1, 1}));
  // Only the faulting page is mapped.
  EXPECT_EQ(PresentPages(s, kLo, kLo + 4 * kP), 1u);
  ASSERT_TRUE(s.peek(kLo + kP).has_value());
  EXPECT_TRUE(s.peek(kLo + kP)->all_zero());
  ExpectInvariants(s);
}

TEST(AnonFault, WriteAllocatesAZeroedAnonymousFolio) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo + 2 * kP + 9, 0xab)));
  auto v = s.page(kLo + 2 * kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->zero_page);
  EXPECT_TRUE(v->writable);
  EXPECT_TRUE(v->dirty);
  EXPECT_TRUE(v->young);
  EXPECT_FALSE(v->pmd_mapped);
  EXPECT_EQ(v->subpage, 0u);
  const Folio* f = FindFolio(s, v->folio);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->kind, FolioKind::kAnon);
  EXPECT_EQ(f->order, 0u);
  EXPECT_EQ(f->refcount, 1u);
  EXPECT_EQ(f->pins, 0u);
  EXPECT_EQ(f->pages.size(), 1u);
  EXPECT_EQ(s.folios().size(), 1u);
  EXPECT_EQ(s.rss(), (Rss{0, 1}));
  // Zeroed except for the byte written.
  PageBytes want;
  want.set(9, 0xab);
  EXPECT_EQ(s.peek(kLo + 2 * kP), want);
  EXPECT_EQ(s.read(kLo + 2 * kP + 9).value(), 0xab);
  EXPECT_EQ(s.read(kLo + 2 * kP + 10).value(), 0);
  ExpectInvariants(s);
}

TEST(AnonFault, WriteAfterReadCopiesTheZeroPage) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  ASSERT_TRUE(s.page(kLo)->zero_page);
  ASSERT_TRUE(IsOk(s.write(kLo + 1, 7)));
  auto v = s.page(kLo);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->zero_page);
  EXPECT_TRUE(v->writable);
  EXPECT_TRUE(v->dirty);
  ASSERT_NE(FindFolio(s, v->folio), nullptr);
  EXPECT_EQ(FindFolio(s, v->folio)->kind, FolioKind::kAnon);
  EXPECT_EQ(s.rss(), (Rss{0, 1}));
  EXPECT_EQ(s.folios().size(), 1u);
  EXPECT_EQ(s.read(kLo).value(), 0);
  EXPECT_EQ(s.read(kLo + 1).value(), 7);
  ExpectInvariants(s);
}

TEST(AnonFault, SecondWriteReusesTheFolio) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  const FolioId id = FolioAt(s, kLo);
  ASSERT_TRUE(IsOk(s.write(kLo + 100, 2)));
  EXPECT_EQ(FolioAt(s, kLo), id);
  EXPECT_EQ(s.folios().size(), 1u);
  EXPECT_EQ(s.read(kLo).value(), 1);
  EXPECT_EQ(s.read(kLo + 100).value(), 2);
  // Writing zero is stored as zero (PageBytes keeps no zero bytes).
  ASSERT_TRUE(IsOk(s.write(kLo, 0)));
  EXPECT_EQ(s.read(kLo).value(), 0);
}

TEST(AnonFault, PeekAndPageHaveNoSideEffects) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  const System before = s;
  EXPECT_FALSE(s.peek(kLo).has_value());
  EXPECT_FALSE(s.page(kLo).has_value());
  EXPECT_FALSE(s.peek(kLo + 0x100000).has_value());
  EXPECT_EQ(s, before);
}

TEST(AnonFault, WriteOnlyAndExecOnlyVmasAreReadable) {
  // x86-64 cannot express write-only or exec-only pages (kAccessMask).
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP, kW));
  Map(s, AnonAt(kLo + kP, kP, kX));
  EXPECT_TRUE(IsOk(s.read(kLo)));
  EXPECT_TRUE(IsOk(s.write(kLo, 3)));
  EXPECT_EQ(s.read(kLo).value(), 3);
  EXPECT_TRUE(IsOk(s.read(kLo + kP)));
  const System before = s;
  EXPECT_TRUE(IsErr(s.write(kLo + kP, 1), Errc::kSegv));
  EXPECT_EQ(s, before);
}

// ===========================================================================
// SIGSEGV: nothing changes
// ===========================================================================

TEST(SegvFault, OutsideAnyVma) {
  //   kLo      +1p     +2p     +3p
  //   |-- A ---| hole  |-- B --|
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  Map(s, AnonAt(kLo + 2 * kP, kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  const System before = s;
  for (Addr a : {kLo - 1, kLo + kP, kLo + 2 * kP - 1, kLo + 3 * kP, Addr{0},
                 kTaskSize + kP}) {
    EXPECT_TRUE(IsErr(s.read(a), Errc::kSegv)) << std::hex << a;
    EXPECT_TRUE(IsErr(s.write(a, 1), Errc::kSegv)) << std::hex << a;
  }
  EXPECT_EQ(s, before);
}

TEST(SegvFault, WithoutPermission) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP, kR));
  Map(s, AnonAt(kLo + kP, kP, flags::kNone));
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo + 2 * kP, kP, /*shared=*/false, kR));
  Map(s, FileAt(f, 0, kLo + 3 * kP, kP, /*shared=*/true, kR));
  const System before = s;
  EXPECT_TRUE(IsErr(s.write(kLo, 1), Errc::kSegv));
  EXPECT_TRUE(IsErr(s.read(kLo + kP), Errc::kSegv));
  EXPECT_TRUE(IsErr(s.write(kLo + kP, 1), Errc::kSegv));
  EXPECT_TRUE(IsErr(s.write(kLo + 2 * kP, 1), Errc::kSegv));
  EXPECT_TRUE(IsErr(s.write(kLo + 3 * kP, 1), Errc::kSegv));
  EXPECT_EQ(s, before);
}

TEST(SegvFault, WriteToZeroPageInReadOnlyVma) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP, kR));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  const System before = s;
  EXPECT_TRUE(IsErr(s.write(kLo, 1), Errc::kSegv));
  EXPECT_EQ(s, before);
}

// ===========================================================================
// File mappings
// ===========================================================================

TEST(FileFault, SharedReadMapsThePageCacheFolioReadOnly) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(3, 0x20), System::Cache::kCold);
  Map(s, FileAt(f, 1, kLo, 2 * kP, /*shared=*/true));
  auto r = s.read(kLo + 100);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r.value(), s.disk_page(f, 1).get(100));
  const FolioId c = CachedFolio(s, f, 1);
  ASSERT_NE(c, 0u);
  auto v = s.page(kLo);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->folio, c);
  EXPECT_FALSE(v->zero_page);
  EXPECT_FALSE(v->writable);
  EXPECT_FALSE(v->dirty);
  const Folio* fo = FindFolio(s, c);
  ASSERT_NE(fo, nullptr);
  EXPECT_EQ(fo->kind, FolioKind::kPageCache);
  EXPECT_EQ(fo->file, f);
  EXPECT_EQ(fo->index, 1u);
  EXPECT_EQ(fo->refcount, 2u) << "page cache + one mapping";
  EXPECT_FALSE(fo->dirty);
  EXPECT_EQ(fo->pages.at(0), s.disk_page(f, 1));
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
  EXPECT_EQ(s.peek(kLo), s.disk_page(f, 1));
  ExpectInvariants(s);
}

TEST(FileFault, SharedWriteDirtiesTheFolioAtFaultTime) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  const PageBytes disk0 = s.disk_page(f, 0);
  ASSERT_TRUE(IsOk(s.write(kLo + 5, 0xcd)));
  auto v = s.page(kLo);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->writable);
  EXPECT_TRUE(v->dirty);
  const FolioId c = CachedFolio(s, f, 0);
  EXPECT_EQ(v->folio, c);
  ASSERT_NE(FindFolio(s, c), nullptr);
  EXPECT_TRUE(FindFolio(s, c)->dirty) << "write-notify marks the folio dirty at once";
  EXPECT_EQ(FindFolio(s, c)->refcount, 2u);
  EXPECT_EQ(s.file_page(f, 0).get(5), 0xcd) << "read(2) sees the page cache";
  EXPECT_EQ(s.disk_page(f, 0), disk0) << "not written back yet";
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
  EXPECT_EQ(s.folios().size(), 1u);
  ExpectInvariants(s);
}

TEST(FileFault, SharedReadThenWriteUpgradesTheSameMapping) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  const FolioId c = FolioAt(s, kLo);
  ASSERT_FALSE(FindFolio(s, c)->dirty);
  ASSERT_TRUE(IsOk(s.write(kLo + 1, 9)));
  EXPECT_EQ(FolioAt(s, kLo), c);
  EXPECT_TRUE(s.page(kLo)->writable);
  EXPECT_TRUE(s.page(kLo)->dirty);
  EXPECT_TRUE(FindFolio(s, c)->dirty);
  EXPECT_EQ(s.folios().size(), 1u);
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
  ExpectInvariants(s);
}

TEST(FileFault, PrivateReadSharesThePageCacheFolio) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  EXPECT_EQ(FolioAt(s, kLo), CachedFolio(s, f, 0));
  EXPECT_FALSE(s.page(kLo)->writable);
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
}

TEST(FileFault, PrivateWriteAfterReadCopiesOnWrite) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1, 0x30), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/false));
  const PageBytes orig = s.disk_page(f, 0);
  ASSERT_TRUE(IsOk(s.read(kLo)));
  const FolioId cache = CachedFolio(s, f, 0);
  ASSERT_TRUE(IsOk(s.write(kLo + 1, 0x77)));

  auto v = s.page(kLo);
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->folio, cache);
  EXPECT_TRUE(v->writable);
  ASSERT_NE(FindFolio(s, v->folio), nullptr);
  EXPECT_EQ(FindFolio(s, v->folio)->kind, FolioKind::kAnon);
  PageBytes want = orig;
  want.set(1, 0x77);
  EXPECT_EQ(s.peek(kLo), want) << "the copy holds the file data plus the write";
  // The file is unchanged: cache and disk.
  EXPECT_EQ(s.file_page(f, 0), orig);
  EXPECT_EQ(s.disk_page(f, 0), orig);
  ASSERT_NE(FindFolio(s, cache), nullptr);
  EXPECT_EQ(FindFolio(s, cache)->refcount, 1u) << "only the page cache's ref";
  EXPECT_FALSE(FindFolio(s, cache)->dirty);
  EXPECT_EQ(s.rss(), (Rss{0, 1}));
  ASSERT_TRUE(IsOk(s.writeback(f)));
  EXPECT_EQ(s.disk_page(f, 0), orig);
  ExpectInvariants(s);
}

TEST(FileFault, PrivateWriteWithoutReadAlsoCopies) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1, 0x30), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/false));
  const PageBytes orig = s.disk_page(f, 0);
  ASSERT_TRUE(IsOk(s.write(kLo + 1, 0x77)));
  PageBytes want = orig;
  want.set(1, 0x77);
  EXPECT_EQ(s.peek(kLo), want);
  EXPECT_EQ(s.file_page(f, 0), orig);
  EXPECT_EQ(s.rss(), (Rss{0, 1}));
  EXPECT_EQ(FindFolio(s, FolioAt(s, kLo))->kind, FolioKind::kAnon);
  // A second write reuses the private copy.
  const FolioId copy = FolioAt(s, kLo);
  ASSERT_TRUE(IsOk(s.write(kLo + 2, 0x78)));
  EXPECT_EQ(FolioAt(s, kLo), copy);
  EXPECT_EQ(s.file_page(f, 0), orig);
  ExpectInvariants(s);
}

TEST(FileFault, PgoffSelectsTheFilePage) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(4, 0x40), System::Cache::kCold);
  Map(s, FileAt(f, 2, kLo, 2 * kP, /*shared=*/false, kR));
  EXPECT_EQ(s.read(kLo).value(), s.disk_page(f, 2).get(0));
  EXPECT_EQ(s.read(kLo + kP).value(), s.disk_page(f, 3).get(0));
  EXPECT_NE(s.disk_page(f, 2).get(0), s.disk_page(f, 3).get(0));
  EXPECT_EQ(s.page(kLo)->folio, CachedFolio(s, f, 2));
}

TEST(FileFault, WarmCacheIsUsedWithoutAllocating) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kWarm);
  const FolioId c = CachedFolio(s, f, 0);
  ASSERT_NE(c, 0u);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  EXPECT_EQ(FolioAt(s, kLo), c);
  EXPECT_EQ(s.folios().size(), 1u);
  EXPECT_EQ(FindFolio(s, c)->refcount, 2u);
}

TEST(FileFault, SigbusPastEndOfFile) {
  //   kLo        +1p        +2p        +3p
  //   |- file p0 -|-- past EOF ---------|
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 3 * kP, /*shared=*/true));
  Map(s, FileAt(f, 0, kLo + 4 * kP, 2 * kP, /*shared=*/false));
  const System before = s;
  EXPECT_TRUE(IsErr(s.read(kLo + kP), Errc::kBus));
  EXPECT_TRUE(IsErr(s.write(kLo + 2 * kP + 5, 1), Errc::kBus));
  EXPECT_TRUE(IsErr(s.read(kLo + 5 * kP), Errc::kBus));
  EXPECT_EQ(s, before);
  // A store in the private mapping is a copy on write: do_cow_fault gives
  // the area its anon_vma before it finds no page, and the anon_vma stays.
  EXPECT_TRUE(IsErr(s.write(kLo + 5 * kP, 1), Errc::kBus));
  EXPECT_NE(s.vma_lookup(kLo + 4 * kP)->anon_vma, 0u);
  EXPECT_EQ(s.vma_lookup(kLo)->anon_vma, 0u);
  EXPECT_EQ(s.page(kLo + 5 * kP), std::nullopt);
  EXPECT_TRUE(IsOk(s.read(kLo)));
}

TEST(FileFault, SigbusInDriverVmaWithoutPage) {
  System s(kLo, kHi);
  Map(s, DriverAt(kLo, 2 * kP));
  Map(s, DriverAt(kLo + 2 * kP, kP, {}));
  const System before = s;
  EXPECT_TRUE(IsErr(s.read(kLo), Errc::kBus));
  EXPECT_TRUE(IsErr(s.write(kLo + kP, 1), Errc::kBus));
  EXPECT_TRUE(IsErr(s.read(kLo + 2 * kP), Errc::kBus));
  EXPECT_EQ(s, before);
}

// ===========================================================================
// Fault-around (system.h: 16-entry window, cached pages only, read faults)
// ===========================================================================

TEST(FaultAround, ReadMapsCachedPagesInTheAlignedWindow) {
  //   page:  0 ........ 3 ........ 15 | 16 ... 19   (file of 20 pages, warm)
  //          [===== window of 16 =====)
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(20), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo, 20 * kP, /*shared=*/true));
  const std::size_t folios = s.folios().size();
  ASSERT_TRUE(IsOk(s.read(kLo + 3 * kP)));
  EXPECT_EQ(s.folios().size(), folios) << "fault-around allocates no folio";
  EXPECT_EQ(s.rss(), (Rss{16, 0}));
  EXPECT_EQ(PresentPages(s, kLo, kLo + 16 * kP), 16u);
  EXPECT_FALSE(s.page(kLo + 16 * kP).has_value());
  for (int i = 0; i < 16; ++i) {
    auto v = s.page(kLo + i * kP);
    ASSERT_TRUE(v.has_value()) << i;
    EXPECT_FALSE(v->writable) << i;
    EXPECT_FALSE(v->dirty) << i;
    EXPECT_EQ(v->folio, CachedFolio(s, f, i)) << i;
    if (i == 3) {
      EXPECT_TRUE(v->young) << "the faulting page";
    } else {
      EXPECT_FALSE(v->young) << i << ": fault-around maps pages not young";
    }
  }
  // The next window is clamped to the VMA / end of file.
  ASSERT_TRUE(IsOk(s.read(kLo + 17 * kP)));
  EXPECT_EQ(s.rss(), (Rss{20, 0}));
  ExpectInvariants(s);
}

TEST(FaultAround, WindowIsClampedToTheVmaStartAndStays16Long) {
  //   pte index: 0    5                   21
  //              |    |--- VMA (30 pages) ......
  //                   [== 16 entries ====)       read at VMA offset 0
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(40), System::Cache::kWarm);
  const Addr start = kLo + 5 * kP;
  Map(s, FileAt(f, 0, start, 30 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.read(start)));
  EXPECT_EQ(s.rss().file, 16);
  EXPECT_TRUE(s.page(start + 15 * kP).has_value());
  EXPECT_FALSE(s.page(start + 16 * kP).has_value());
  // VMA offset 20 = pte index 25: window [16, 32) = VMA offsets 11..26, of
  // which 11..15 are already mapped.
  ASSERT_TRUE(IsOk(s.read(start + 20 * kP)));
  EXPECT_EQ(s.rss().file, 27);
  EXPECT_TRUE(s.page(start + 26 * kP).has_value());
  EXPECT_FALSE(s.page(start + 27 * kP).has_value());
  ExpectInvariants(s);
}

TEST(FaultAround, WindowIsClampedToThePteTable) {
  //   pte 508 509 510 511 | 0 1 2 3      (VMA of 8 pages across a 2 MiB edge)
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(8), System::Cache::kWarm);
  const Addr start = kLo + kPmdSize - 4 * kP;
  Map(s, FileAt(f, 0, start, 8 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.read(start)));
  EXPECT_EQ(s.rss().file, 4);
  EXPECT_EQ(PresentPages(s, start, start + 4 * kP), 4u);
  EXPECT_EQ(PresentPages(s, start + 4 * kP, start + 8 * kP), 0u);
  EXPECT_EQ(s.table_counts().pte, 1u);
  ExpectInvariants(s);
}

TEST(FaultAround, WindowIsClampedToEndOfFile) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(3), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo, 8 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  EXPECT_EQ(s.rss().file, 3);
  EXPECT_FALSE(s.page(kLo + 3 * kP).has_value());
  const System before = s;
  EXPECT_TRUE(IsErr(s.read(kLo + 3 * kP), Errc::kBus));
  EXPECT_EQ(s, before);
}

// Linux 6.18: when the window (clamped to EOF) starts at the file's last
// cached page, fault-around installs no PTE table of its own, so it maps
// that page only if a table is already there (model/fault.cc).
TEST(FaultAround, AtEndOfFileTheLastPageNeedsAnExistingTable) {
  //   kLo+14 +15 +16 | +17     file of 12 pages mapped from page 9: +17 is past EOF
  //   window of a fault at +17: [+16, +18) clamped to EOF = {+16, file page 11}
  for (const bool table_first : {false, true}) {
    System s(kLo, kHi);
    FileId f = s.create_file(MarkedPages(12), System::Cache::kWarm);
    if (table_first) {  // a page of another VMA in the same 2 MiB
      Map(s, AnonAt(kLo + 40 * kP, kP));
      ASSERT_TRUE(IsOk(s.write(kLo + 40 * kP, 1)));
    }
    Map(s, FileAt(f, 9, kLo + 14 * kP, 4 * kP, /*shared=*/true));
    EXPECT_TRUE(IsErr(s.read(kLo + 17 * kP), Errc::kBus));
    EXPECT_EQ(s.page(kLo + 16 * kP).has_value(), table_first) << "table first: " << table_first;
    EXPECT_EQ(s.table_counts().pte, table_first ? 1u : 0u);
    ExpectInvariants(s);
  }
}

TEST(FaultAround, AtEndOfFileAWiderWindowMapsWithoutATable) {
  //   kLo+15 .. +19 map file pages 8..12 (12 is past EOF); a fault at +19
  //   has the window [+16, +20), clamped to EOF: file pages 9..11. Its first
  //   page is not the file's last, so all three are mapped (host: same).
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(12), System::Cache::kWarm);
  Map(s, FileAt(f, 8, kLo + 15 * kP, 5 * kP, /*shared=*/true));
  EXPECT_TRUE(IsErr(s.read(kLo + 19 * kP), Errc::kBus));
  EXPECT_EQ(PresentPages(s, kLo + 15 * kP, kLo + 20 * kP), 3u);
  EXPECT_TRUE(s.page(kLo + 16 * kP).has_value());
  EXPECT_FALSE(s.page(kLo + 15 * kP).has_value()) << "outside the 16-aligned window";
  ExpectInvariants(s);
}

TEST(FaultAround, OnlyPagesAlreadyInThePageCache) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(4), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 4 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.read(kLo + 2 * kP)));
  EXPECT_EQ(s.rss().file, 1) << "nothing else is cached";
  ASSERT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, 4 * kP)));
  ASSERT_EQ(s.rss().file, 0);
  ASSERT_TRUE(IsOk(s.read(kLo)));
  // Page 0 was read in; page 2 is cached and mapped around it; 1, 3 are not.
  EXPECT_EQ(s.rss().file, 2);
  EXPECT_TRUE(s.page(kLo).has_value());
  EXPECT_FALSE(s.page(kLo + kP).has_value());
  ASSERT_TRUE(s.page(kLo + 2 * kP).has_value());
  EXPECT_FALSE(s.page(kLo + 2 * kP)->young);
  EXPECT_FALSE(s.page(kLo + 3 * kP).has_value());
  EXPECT_EQ(s.folios().size(), 2u);
  ExpectInvariants(s);
}

TEST(FaultAround, WriteFaultsDoNotFaultAround) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(4), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo, 4 * kP, /*shared=*/true));
  Map(s, FileAt(f, 0, kLo + 4 * kP, 4 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.write(kLo + kP, 1)));
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
  ASSERT_TRUE(IsOk(s.write(kLo + 5 * kP, 1)));
  EXPECT_EQ(s.rss(), (Rss{1, 1}));
  EXPECT_EQ(PresentPages(s, kLo, kLo + 8 * kP), 2u);
}

TEST(FaultAround, KeepsExistingPtesAndWorksOnPrivateMappings) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(4), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo, 4 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.write(kLo + kP, 0x99)));  // private copy of page 1
  const FolioId copy = FolioAt(s, kLo + kP);
  ASSERT_TRUE(IsOk(s.read(kLo)));
  EXPECT_EQ(s.rss(), (Rss{3, 1}));
  EXPECT_EQ(FolioAt(s, kLo + kP), copy);
  EXPECT_EQ(s.read(kLo + kP).value(), 0x99);
  EXPECT_FALSE(s.page(kLo + 3 * kP)->writable);
  // A write to a page mapped by fault-around copies it.
  ASSERT_TRUE(IsOk(s.write(kLo + 3 * kP, 5)));
  EXPECT_EQ(s.rss(), (Rss{2, 2}));
  EXPECT_EQ(s.file_page(f, 3), MarkedPages(4)[3]);
  ExpectInvariants(s);
}

// ===========================================================================
// Transparent huge pages
// ===========================================================================

TEST(ThpFault, HugePageVmaMapsAWholeBlockWithOnePmd) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(s.write(kLo + 5 * kP + 3, 7)));
  auto v = s.page(kLo + 5 * kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->pmd_mapped);
  EXPECT_EQ(v->subpage, 5u);
  EXPECT_TRUE(v->writable);
  const Folio* f = FindFolio(s, v->folio);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->kind, FolioKind::kAnon);
  EXPECT_EQ(f->order, 9u);
  EXPECT_EQ(f->pages.size(), 512u);
  EXPECT_EQ(f->refcount, 1u) << "one PMD mapping";
  EXPECT_EQ(s.rss(), (Rss{0, 512}));
  EXPECT_EQ(s.table_counts(), (TableCounts{0, 1, 1})) << "no PTE table";
  // The whole block is mapped by it; the next block is not.
  EXPECT_EQ(s.page(kLo)->folio, v->folio);
  EXPECT_EQ(s.page(kLo + kPmdSize - kP)->subpage, 511u);
  EXPECT_FALSE(s.page(kLo + kPmdSize).has_value());
  EXPECT_EQ(s.read(kLo + 5 * kP + 3).value(), 7);
  EXPECT_EQ(s.read(kLo + 6 * kP).value(), 0);
  EXPECT_EQ(s.folios().size(), 1u) << "no new fault inside the THP";
  // The second block gets its own THP.
  ASSERT_TRUE(IsOk(s.read(kLo + kPmdSize + 1)));
  EXPECT_EQ(s.rss(), (Rss{0, 1024}));
  EXPECT_EQ(s.table_counts(), (TableCounts{0, 1, 1}));
  ExpectInvariants(s);
}

TEST(ThpFault, ReadFaultAlsoMapsAThp) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(s.read(kLo + 3 * kP)));
  auto v = s.page(kLo + 3 * kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->pmd_mapped);
  EXPECT_FALSE(v->zero_page);
  EXPECT_EQ(s.rss(), (Rss{0, 512}));
  ASSERT_TRUE(IsOk(s.write(kLo + 3 * kP, 1)));
  EXPECT_EQ(FolioAt(s, kLo + 3 * kP), v->folio) << "the THP is reused";
  EXPECT_EQ(s.rss(), (Rss{0, 512}));
  ExpectInvariants(s);
}

TEST(ThpFault, NoThpWithoutHugePageOrWithNoHugePage) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kPmdSize));
  Map(s, AnonAt(kLo + kPmdSize, kPmdSize, kRW, flags::kNoHugePage));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  ASSERT_TRUE(IsOk(s.write(kLo + kPmdSize, 1)));
  EXPECT_FALSE(s.page(kLo)->pmd_mapped);
  EXPECT_FALSE(s.page(kLo + kPmdSize)->pmd_mapped);
  EXPECT_EQ(s.rss(), (Rss{0, 2}));
  EXPECT_EQ(s.table_counts().pte, 2u);
}

TEST(ThpFault, FallsBackWhenTheAlignedBlockIsNotInsideTheVma) {
  //   kLo   kLo+1p                      kLo+2MiB  +1p
  //   |     |------ HUGEPAGE VMA ----------|-------|
  //   [=== block 0: starts before VMA ===) [== block 1: ends after ==)
  System s(kLo, kHi);
  Map(s, AnonAt(kLo + kP, kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(s.write(kLo + 2 * kP, 1)));
  ASSERT_TRUE(IsOk(s.write(kLo + kPmdSize, 1)));
  EXPECT_FALSE(s.page(kLo + 2 * kP)->pmd_mapped);
  EXPECT_FALSE(s.page(kLo + kPmdSize)->pmd_mapped);
  EXPECT_EQ(s.rss(), (Rss{0, 2}));
  EXPECT_EQ(s.table_counts(), (TableCounts{2, 1, 1}));
  for (const auto& [id, f] : s.folios()) EXPECT_EQ(f.order, 0u) << id;
  ExpectInvariants(s);
}

TEST(ThpFault, OnlyForPrivateAnonymousVmas) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  auto r = FileAt(f, 0, kLo, kPmdSize, /*shared=*/false);
  r.advice = flags::kHugePage;
  Map(s, r);
  ASSERT_TRUE(IsOk(s.read(kLo)));
  EXPECT_FALSE(s.page(kLo)->pmd_mapped);
  EXPECT_EQ(s.rss(), (Rss{1, 0}));
}

TEST(ThpFault, NoThpWhenThePmdSlotHoldsAPteTable) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(s.write(kLo + kP, 1)));
  const FolioId thp = FolioAt(s, kLo);
  // Zapping part of the THP splits it into a PTE table.
  ASSERT_TRUE(Zapped(s.zap_page_range_single(kLo, kLo, kP)));
  ASSERT_EQ(s.table_counts().pte, 1u);
  ASSERT_TRUE(IsOk(s.write(kLo, 2)));
  auto v = s.page(kLo);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->pmd_mapped);
  EXPECT_NE(v->folio, thp);
  EXPECT_EQ(FindFolio(s, v->folio)->order, 0u);
  EXPECT_EQ(s.rss(), (Rss{0, 512}));
  EXPECT_EQ(s.read(kLo + kP).value(), 1);
  ExpectInvariants(s);
}

TEST(ThpFault, ThpAllocationFailureFallsBackToASmallPage) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage));
  // The first THP brings in the PUD and PMD tables, so that the next THP
  // fault's first allocation is the THP itself.
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  ASSERT_EQ(s.table_counts(), (TableCounts{0, 1, 1}));
  s.fail_next_allocation();
  ASSERT_TRUE(IsOk(s.write(kLo + kPmdSize + kP, 2)));
  EXPECT_FALSE(s.allocation_failure_armed());
  auto v = s.page(kLo + kPmdSize + kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->pmd_mapped);
  EXPECT_EQ(FindFolio(s, v->folio)->order, 0u);
  EXPECT_EQ(s.rss(), (Rss{0, 513}));
  EXPECT_EQ(s.table_counts(), (TableCounts{1, 1, 1}));
  EXPECT_EQ(s.read(kLo + kPmdSize + kP).value(), 2);
  ExpectInvariants(s);
}

// ===========================================================================
// Allocation failure: ENOMEM and nothing changes
// ===========================================================================

TEST(FaultEnomem, AnonWriteInAnEmptyTree) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.write(kLo, 1), Errc::kNoMem));
  EXPECT_EQ(s, before);
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.read(kLo), Errc::kNoMem)) << "the zero page needs tables";
  EXPECT_EQ(s, before);
  EXPECT_TRUE(IsOk(s.write(kLo, 1)));
}

TEST(FaultEnomem, AnonFolioAllocation) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.write(kLo + kP, 1), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

TEST(FaultEnomem, CopyOfTheZeroPage) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.write(kLo, 1), Errc::kNoMem));
  EXPECT_EQ(s, before);
  EXPECT_TRUE(s.page(kLo)->zero_page);
}

TEST(FaultEnomem, PrivateFileCopyOnWrite) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.write(kLo, 1), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

TEST(FaultEnomem, ColdPrivateFileWrite) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(s.read(kLo)));  // tables exist now
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.write(kLo + kP, 1), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

TEST(FaultEnomem, PageCacheFolioAllocation) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.read(kLo)));
  const System before = s;
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.read(kLo + kP), Errc::kNoMem));
  EXPECT_EQ(s, before);
  EXPECT_EQ(CachedFolio(s, f, 1), 0u);
}

TEST(FaultEnomem, FaultsThatAllocateNothingLeaveTheInjectionArmed) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(1), System::Cache::kWarm);
  Map(s, AnonAt(kLo, 2 * kP));
  Map(s, FileAt(f, 0, kLo + 2 * kP, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));  // tables exist now
  s.fail_next_allocation();
  EXPECT_TRUE(IsOk(s.read(kLo + kP))) << "zero page";
  EXPECT_TRUE(IsOk(s.read(kLo + 2 * kP))) << "warm page cache";
  EXPECT_TRUE(IsOk(s.write(kLo + 2 * kP, 1))) << "shared write to present page";
  EXPECT_TRUE(IsOk(s.write(kLo, 2))) << "present anon page";
  EXPECT_TRUE(s.allocation_failure_armed());
}


// ===========================================================================
// populate (MADV_POPULATE_WRITE)
// ===========================================================================

TEST(Populate, FaultsEveryPageForWriteWithoutStoring) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 200 * kP));
  ASSERT_TRUE(IsOk(s.read(kLo + 3 * kP)));  // the zero page: copied on populate
  ASSERT_TRUE(IsOk(s.populate(kLo, 200 * kP)));
  EXPECT_EQ(PresentPages(s, kLo, kLo + 200 * kP), 200u);
  for (Addr a = kLo; a < kLo + 200 * kP; a += kP) {
    const auto v = s.page(a);
    ASSERT_TRUE(v.has_value());
    EXPECT_FALSE(v->zero_page);
    EXPECT_TRUE(v->writable && v->dirty && v->young);
    EXPECT_TRUE(s.peek(a)->all_zero()) << "populate stores nothing";
  }
  EXPECT_EQ(s.rss(), (Rss{0, 200}));
  ExpectInvariants(s);
}

TEST(Populate, LeavesAWritableEntryAsItIsAndKeepsContents) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo + 9, 0x5a)));
  const System before = s;
  ASSERT_TRUE(IsOk(s.populate(kLo, kP)));
  EXPECT_EQ(s, before) << "no fault was needed: nothing changes";
  ASSERT_TRUE(IsOk(s.populate(kLo, 2 * kP)));
  EXPECT_EQ(s.peek(kLo)->get(9), 0x5a);
}

TEST(Populate, CopiesPrivateFilePagesAndDirtiesSharedOnes) {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(4, 0x40), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo, 2 * kP, /*shared=*/false));
  Map(s, FileAt(f, 2, kLo + 4 * kP, 2 * kP, /*shared=*/true));
  EXPECT_TRUE(IsErr(s.populate(kLo, 6 * kP), Errc::kNoMem)) << "pages 2 and 3 are a hole";
  ASSERT_TRUE(IsOk(s.populate(kLo + 4 * kP, 2 * kP)));
  const FolioId copy = FolioAt(s, kLo);
  ASSERT_NE(copy, 0u);
  EXPECT_EQ(FindFolio(s, copy)->kind, FolioKind::kAnon);
  EXPECT_EQ(s.peek(kLo), s.disk_page(f, 0)) << "a copy of the file page";
  EXPECT_EQ(FolioAt(s, kLo + 4 * kP), CachedFolio(s, f, 2));
  EXPECT_TRUE(FindFolio(s, CachedFolio(s, f, 2))->dirty) << "write-notify, as for a store";
  EXPECT_TRUE(s.page(kLo + 4 * kP)->writable);
  ExpectInvariants(s);
}

TEST(Populate, ArgumentErrorsChangeNothing) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  const System before = s;
  EXPECT_TRUE(IsErr(s.populate(kLo + 1, kP), Errc::kInval));
  EXPECT_TRUE(IsErr(s.populate(kLo, ~std::uint64_t{0}), Errc::kInval)) << "rounds past 2^64";
  EXPECT_TRUE(IsErr(s.populate(kLo, ~std::uint64_t{0} - kLo), Errc::kInval)) << "the end wraps";
  EXPECT_TRUE(IsOk(s.populate(kHi, 0))) << "nothing to do, even without a VMA";
  EXPECT_TRUE(IsErr(s.populate(kHi, kP), Errc::kNoMem));
  EXPECT_EQ(s, before);
}

TEST(Populate, StopsAtTheFirstBadPageKeepingThoseBefore) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kP));
  Map(s, AnonAt(kLo + 2 * kP, 2 * kP, kR));
  EXPECT_TRUE(IsErr(s.populate(kLo, 4 * kP), Errc::kInval)) << "a VMA without WRITE";
  EXPECT_EQ(PresentPages(s, kLo, kLo + 4 * kP), 2u);
  Map(s, AnonAt(kLo + 6 * kP, 2 * kP));
  EXPECT_TRUE(IsErr(s.populate(kLo + 6 * kP, 4 * kP), Errc::kNoMem)) << "a hole";
  EXPECT_EQ(PresentPages(s, kLo + 6 * kP, kLo + 8 * kP), 2u);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kWarm);
  Map(s, FileAt(f, 0, kLo + 16 * kP, 4 * kP, /*shared=*/false));
  EXPECT_TRUE(IsErr(s.populate(kLo + 16 * kP, 4 * kP), Errc::kFault)) << "SIGBUS past end of file";
  EXPECT_EQ(PresentPages(s, kLo + 16 * kP, kLo + 20 * kP), 2u);
  Map(s, DriverAt(kLo + 24 * kP, kP));
  EXPECT_TRUE(IsErr(s.populate(kLo + 24 * kP, kP), Errc::kFault)) << "a driver VMA has no fault handler";
  Map(s, DriverAt(kLo + 26 * kP, kP, {VmaNewOp::kSetMixedMap, VmaNewOp::kSetIo}));
  EXPECT_TRUE(IsErr(s.populate(kLo + 26 * kP, kP), Errc::kInval)) << "VM_IO";
  ExpectInvariants(s);
}

TEST(Populate, MapsATransparentHugePageAndTouchesIt) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(s.populate(kLo + kPmdSize - kP, 2 * kP)));
  ASSERT_TRUE(s.page(kLo)->pmd_mapped);
  ASSERT_TRUE(s.page(kLo + kPmdSize)->pmd_mapped);
  ASSERT_TRUE(IsOk(s.mprotect(kLo, kPmdSize, kR)));
  ASSERT_TRUE(IsOk(s.mprotect(kLo, kPmdSize, kRW)));
  EXPECT_FALSE(s.page(kLo)->writable);
  ASSERT_TRUE(IsOk(s.populate(kLo, kP)));
  EXPECT_TRUE(s.page(kLo)->writable) << "the THP is reused";
  EXPECT_EQ(s.rss(), (Rss{0, 2 * kPagesPerPmd}));
  ExpectInvariants(s);
}

TEST(Populate, AllocationFailureIsEnomemAfterThePagesBefore) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  s.fail_next_allocation();
  EXPECT_TRUE(IsErr(s.populate(kLo, 4 * kP), Errc::kNoMem));
  EXPECT_EQ(PresentPages(s, kLo, kLo + 4 * kP), 1u) << "the first page needed no allocation";
  EXPECT_TRUE(IsOk(s.populate(kLo, 4 * kP)));
  EXPECT_EQ(PresentPages(s, kLo, kLo + 4 * kP), 4u);
}

TEST(Populate, NeedsAUser) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmput()));
  EXPECT_TRUE(IsErr(s.populate(kLo, kP), Errc::kNoUser));
}

}  // namespace
}  // namespace mmv::model::test
