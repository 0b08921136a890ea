// impl's page faults through MmWithUser::read/write (SPEC.md section 4;
// choices in model/system.h): zero page, anonymous folios, copy-on-write,
// shared and private file mappings, fault-around, SIGSEGV/SIGBUS, THP. Every
// step runs on model and impl side by side (Twin), so folio ids, PTE bits,
// refcounts and rss are compared exactly on top of the assertions here.
// The last test faults one shared file mapping from four threads at once.

#include <cstdint>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include "impl/test_peer.h"
#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

// The page at `a` as the impl shows it (observe()), in the model's terms.
std::optional<PageView> View(Twin& t, Addr a) { return t.observed().page(a); }

std::size_t Present(const model::System& s, Addr lo, Addr hi) {
  std::size_t n = 0;
  for (Addr a = lo; a < hi; a += kP) n += s.page(a).has_value();
  return n;
}

// The page-cache folio of page `index` of `f` in `seen` (0 if none).
FolioId Cached(const model::System& seen, FileId f, std::uint64_t index) {
  const auto& cache = seen.files().at(f).page_cache;
  auto it = cache.find(index);
  return it == cache.end() ? 0 : it->second;
}

// The same in the impl, observed now.
FolioId Cached(Twin& t, FileId f, std::uint64_t index) { return Cached(t.observed(), f, index); }

// A call that must fail with `e` and change nothing on either side.
template <class Op>
void ExpectFailsUnchanged(Twin& t, Op op, Errc e, const char* what) {
  SCOPED_TRACE(what);
  const model::System before = t.model;
  EXPECT_TRUE(IsErr(op(), e));
  EXPECT_TRUE(t.model == before) << "the failed access changed the model:\n"
                                 << model::diff(before, t.model);
  t.ExpectSameState();
}

// ===========================================================================
// Anonymous memory
// ===========================================================================

TEST(ImplFault, AnonReadMapsTheZeroPageOutsideRss) {
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  EXPECT_EQ(t.read(kLo + kP + 17).value(), 0);
  const model::System seen = t.observed();
  const auto v = seen.page(kLo + kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->zero_page);
  EXPECT_FALSE(v->writable);
  EXPECT_TRUE(seen.folios().empty()) << "the zero page is not a counted folio";
  EXPECT_EQ(t.mm().rss(), Rss{});
  EXPECT_EQ(t.mm().table_counts(), (TableCounts{1, 1, 1}));
  EXPECT_EQ(Present(seen, kLo, kLo + 4 * kP), 1u) << "anonymous memory has no fault-around";
  t.ExpectSameState();
}

TEST(ImplFault, AnonWriteAllocatesAFolioAndReusesIt) {
  Twin t;
  t.map(AnonAt(kLo, 4 * kP));
  ASSERT_TRUE(IsOk(t.write(kLo + 2 * kP + 9, 0xab)));
  model::System seen = t.observed();
  const auto v = seen.page(kLo + 2 * kP);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->zero_page);
  EXPECT_TRUE(v->writable && v->dirty && v->young);
  const model::Folio& f = seen.folios().at(v->folio);
  EXPECT_EQ(f.kind, FolioKind::kAnon);
  EXPECT_EQ(f.order, 0u);
  EXPECT_EQ(f.refcount, 1u);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 1}));
  EXPECT_NE(t.mm().vmas().at(0).anon_vma, 0u) << "the first anonymous folio sets anon_vma";
  ASSERT_TRUE(IsOk(t.write(kLo + 2 * kP + 10, 0xac)));
  seen = t.observed();
  EXPECT_EQ(seen.page(kLo + 2 * kP)->folio, v->folio);
  EXPECT_EQ(seen.folios().size(), 1u);
  EXPECT_EQ(t.read(kLo + 2 * kP + 9).value(), 0xab);
  EXPECT_EQ(t.read(kLo + 2 * kP + 11).value(), 0) << "the rest of the folio is zeroed";
  t.ExpectSameState();
}

TEST(ImplFault, WriteToTheZeroPageCopiesIt) {
  Twin t;
  t.map(AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(t.read(kLo)));
  ASSERT_TRUE(View(t, kLo)->zero_page);
  ASSERT_TRUE(IsOk(t.write(kLo + 1, 7)));
  const model::System seen = t.observed();
  const auto v = seen.page(kLo);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->zero_page);
  EXPECT_TRUE(v->writable);
  EXPECT_EQ(seen.folios().at(v->folio).kind, FolioKind::kAnon);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 1}));
  EXPECT_EQ(t.read(kLo).value(), 0);
  EXPECT_EQ(t.read(kLo + 1).value(), 7);
  t.ExpectSameState();
}

// ===========================================================================
// SIGSEGV: nothing changes
// ===========================================================================

TEST(ImplFault, SegvOutsideAnyVma) {
  //   kLo      +1p     +2p     +3p
  //   |-- A ---| hole  |-- B --|
  Twin t;
  t.map(AnonAt(kLo, kP));
  t.map(AnonAt(kLo + 2 * kP, kP, kR));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  for (Addr a : {kLo - 1, kLo + kP, kLo + 2 * kP - 1, kLo + 3 * kP, Addr{0}, kTaskSize + kP}) {
    ExpectFailsUnchanged(t, [&] { return t.read(a); }, Errc::kSegv, "read outside");
    ExpectFailsUnchanged(t, [&] { return t.write(a, 1); }, Errc::kSegv, "write outside");
  }
}

TEST(ImplFault, SegvWithoutPermission) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kWarm);
  t.map(AnonAt(kLo, kP, kR));
  t.map(AnonAt(kLo + kP, kP, flags::kNone));
  t.map(FileAt(f, 0, kLo + 2 * kP, kP, /*shared=*/false, kR));
  t.map(FileAt(f, 0, kLo + 3 * kP, kP, /*shared=*/true, kR));
  ASSERT_TRUE(IsOk(t.read(kLo)));  // the zero page, read-only
  ExpectFailsUnchanged(t, [&] { return t.write(kLo, 1); }, Errc::kSegv, "write to RO anon");
  ExpectFailsUnchanged(t, [&] { return t.read(kLo + kP); }, Errc::kSegv, "PROT_NONE read");
  ExpectFailsUnchanged(t, [&] { return t.write(kLo + kP, 1); }, Errc::kSegv, "PROT_NONE write");
  ExpectFailsUnchanged(t, [&] { return t.write(kLo + 2 * kP, 1); }, Errc::kSegv,
                       "write to RO private file");
  ExpectFailsUnchanged(t, [&] { return t.write(kLo + 3 * kP, 1); }, Errc::kSegv,
                       "write to RO shared file");
}

// ===========================================================================
// File mappings
// ===========================================================================

TEST(ImplFault, SharedFileReadThenWriteDirtiesAtTheWriteFault) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(3, 0x20), Cache::kWarm);
  const PageBytes disk1 = MarkedPages(3, 0x20)[1];
  t.map(FileAt(f, 1, kLo, kP, /*shared=*/true));
  EXPECT_EQ(t.read(kLo + 100).value(), disk1.get(100));
  const FolioId c = Cached(t, f, 1);
  ASSERT_NE(c, 0u);
  model::System seen = t.observed();
  EXPECT_EQ(seen.page(kLo)->folio, c);
  EXPECT_FALSE(seen.page(kLo)->writable);
  EXPECT_FALSE(seen.page(kLo)->dirty);
  EXPECT_FALSE(seen.folios().at(c).dirty);
  EXPECT_EQ(seen.folios().at(c).refcount, 2u) << "page cache + one mapping";
  EXPECT_EQ(t.mm().rss(), (Rss{1, 0}));

  ASSERT_TRUE(IsOk(t.write(kLo + 5, 0xcd)));
  seen = t.observed();
  EXPECT_EQ(seen.page(kLo)->folio, c) << "the same folio, now writable";
  EXPECT_TRUE(seen.page(kLo)->writable);
  EXPECT_TRUE(seen.page(kLo)->dirty);
  EXPECT_TRUE(seen.folios().at(c).dirty) << "write-notify: dirty at fault time";
  EXPECT_EQ(seen.folios().at(c).refcount, 2u);
  EXPECT_EQ(t.kernel.file_page(f, 1).get(5), 0xcd) << "read(2) sees the page cache";
  EXPECT_EQ(t.kernel.disk_page(f, 1), disk1) << "not written back yet";
  t.ExpectSameState();
  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 1).get(5), 0xcd);
  t.ExpectSameState();
}

TEST(ImplFault, SharedFileWriteFirstMapsWritableAndDirty) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(2), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + kP + 3, 0x11)));
  const FolioId c = Cached(t, f, 1);
  const model::System seen = t.observed();
  EXPECT_EQ(seen.page(kLo + kP)->folio, c);
  EXPECT_TRUE(seen.page(kLo + kP)->writable);
  EXPECT_TRUE(seen.folios().at(c).dirty);
  EXPECT_EQ(Present(seen, kLo, kLo + 2 * kP), 1u) << "write faults do not fault around";
  t.ExpectSameState();
}

TEST(ImplFault, PrivateFileWriteCopiesAndLeavesTheFileAlone) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(1, 0x30), Cache::kWarm);
  const PageBytes orig = MarkedPages(1, 0x30)[0];
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.read(kLo)));
  const FolioId cache = Cached(t, f, 0);
  ASSERT_EQ(View(t, kLo)->folio, cache) << "a private read shares the page-cache folio";
  ASSERT_FALSE(View(t, kLo)->writable);

  ASSERT_TRUE(IsOk(t.write(kLo + 1, 0x77)));
  const model::System seen = t.observed();
  const auto v = seen.page(kLo);
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->folio, cache);
  EXPECT_TRUE(v->writable);
  EXPECT_EQ(seen.folios().at(v->folio).kind, FolioKind::kAnon);
  PageBytes want = orig;
  want.set(1, 0x77);
  EXPECT_EQ(seen.peek(kLo), want) << "the copy holds the file data plus the write";
  EXPECT_EQ(seen.folios().at(cache).refcount, 1u) << "only the page cache's reference";
  EXPECT_FALSE(seen.folios().at(cache).dirty);
  EXPECT_EQ(t.kernel.file_page(f, 0), orig);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 1}));
  t.ExpectSameState();
  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0), orig);
  t.ExpectSameState();
}

TEST(ImplFault, ColdCacheAllocatesPageCacheFolios) {
  //   file pages 0..3, cold. A (shared) faults page 2; B (private, same
  //   file) faults page 0: a new folio for 0, and fault-around in B maps the
  //   now cached page 2 but not the uncached 1 and 3.
  Twin t;
  const FileId f = t.create_file(MarkedPages(4), Cache::kCold);
  ASSERT_TRUE(t.observed().folios().empty());
  const Addr a = kLo, b = kLo + 0x100000;
  t.map(FileAt(f, 0, a, 4 * kP, /*shared=*/true));
  t.map(FileAt(f, 0, b, 4 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.read(a + 2 * kP)));
  model::System seen = t.observed();
  ASSERT_EQ(seen.folios().size(), 1u);
  const FolioId c2 = Cached(t, f, 2);
  EXPECT_EQ(seen.folios().at(c2).kind, FolioKind::kPageCache);
  EXPECT_EQ(seen.folios().at(c2).index, 2u);
  EXPECT_EQ(seen.folios().at(c2).pages.at(0), MarkedPages(4)[2]);
  EXPECT_EQ(t.mm().rss(), (Rss{1, 0}));

  ASSERT_TRUE(IsOk(t.read(b)));
  seen = t.observed();
  EXPECT_EQ(seen.folios().size(), 2u);
  EXPECT_NE(Cached(t, f, 0), 0u);
  EXPECT_EQ(seen.page(b + 2 * kP)->folio, c2);
  EXPECT_FALSE(seen.page(b + 2 * kP)->young);
  EXPECT_FALSE(seen.page(b + kP).has_value());
  EXPECT_FALSE(seen.page(b + 3 * kP).has_value());
  EXPECT_FALSE(seen.page(a).has_value()) << "fault-around stays inside the faulting VMA";
  EXPECT_EQ(seen.folios().at(c2).refcount, 3u);
  t.ExpectSameState();
}

TEST(ImplFault, DriverVmaWithoutPageIsSigbus) {
  Twin t;
  t.map(DriverAt(kLo, 2 * kP));
  t.map(DriverAt(kLo + 2 * kP, kP, {}));
  ExpectFailsUnchanged(t, [&] { return t.read(kLo); }, Errc::kBus, "mixedmap read");
  ExpectFailsUnchanged(t, [&] { return t.write(kLo + kP, 1); }, Errc::kBus, "mixedmap write");
  ExpectFailsUnchanged(t, [&] { return t.read(kLo + 2 * kP); }, Errc::kBus, "plain driver");
}

// ===========================================================================
// Past end of file, and fault-around (16-entry window, system.h)
// ===========================================================================

TEST(ImplFault, WriteOrReadPastEofIsSigbus) {
  //   kLo        +1p        +2p        +3p
  //   |- file p0 -|-- past EOF ---------|     (cold: nothing to fault around)
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 3 * kP, /*shared=*/true));
  t.map(FileAt(f, 0, kLo + 4 * kP, 2 * kP, /*shared=*/false));
  ExpectFailsUnchanged(t, [&] { return t.read(kLo + kP); }, Errc::kBus, "shared read");
  ExpectFailsUnchanged(t, [&] { return t.write(kLo + 2 * kP + 5, 1); }, Errc::kBus,
                       "shared write");
  // A private store is a copy on write, which prepares the anon_vma before
  // it finds no page (model/fault_test.cc, FileFault.SigbusPastEndOfFile).
  EXPECT_TRUE(IsErr(t.write(kLo + 5 * kP, 1), Errc::kBus));
  EXPECT_NE(t.model.vma_lookup(kLo + 4 * kP)->anon_vma, 0u);
  EXPECT_TRUE(IsOk(t.read(kLo)));
  t.ExpectSameState();
}

TEST(ImplFault, FaultAroundAtEndOfFileMapsTheLastPageOnlyIntoAnExistingTable) {
  // model/fault.cc: the window of a fault at +17 is file page 11, the last.
  for (const bool table_first : {false, true}) {
    Twin t;
    const FileId f = t.create_file(MarkedPages(12), Cache::kWarm);
    if (table_first) {
      t.map(AnonAt(kLo + 40 * kP, kP));
      ASSERT_TRUE(IsOk(t.write(kLo + 40 * kP, 1)));
    }
    t.map(FileAt(f, 9, kLo + 14 * kP, 4 * kP, /*shared=*/true));
    EXPECT_TRUE(IsErr(t.read(kLo + 17 * kP), Errc::kBus));
    EXPECT_EQ(t.observed().page(kLo + 16 * kP).has_value(), table_first) << table_first;
    t.ExpectSameState();
  }
}

TEST(ImplFault, SigbusKeepsWhatFaultAroundMapped) {
  //   page: 0 1 2 | 3 ... 7       file of 3 pages (warm), VMA of 8
  //   read at 5: window [0, 8) clamped to EOF -> 0..2 mapped, then SIGBUS
  Twin t;
  const FileId f = t.create_file(MarkedPages(3), Cache::kWarm);
  t.map(FileAt(f, 0, kLo, 8 * kP, /*shared=*/true));
  EXPECT_TRUE(IsErr(t.read(kLo + 5 * kP), Errc::kBus));
  const model::System seen = t.observed();
  EXPECT_EQ(Present(seen, kLo, kLo + 8 * kP), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(seen.page(kLo + i * kP).has_value()) << i;
    EXPECT_FALSE(seen.page(kLo + i * kP)->young) << i << ": prefaulted, not accessed";
    EXPECT_FALSE(seen.page(kLo + i * kP)->writable) << i;
  }
  EXPECT_EQ(t.mm().rss(), (Rss{3, 0}));
  t.ExpectSameState();
}

TEST(ImplFault, WindowStartingAtTheLastPageOfTheFileMapsNothingWithoutATable) {
  //   pte:  16 | 17 18 19        file of 17 pages (warm), VMA of 20 pages
  //   read at 17: window [16, 20) clamped to EOF = [16, 17), whose first
  //   page is the file's last, and no PTE table yet: maps nothing.
  //   With 18 pages, read at 18: window [16, 18) starts before the last
  //   page: maps 16 and 17.
  Twin t;
  const FileId f17 = t.create_file(MarkedPages(17), Cache::kWarm);
  const FileId f18 = t.create_file(MarkedPages(18), Cache::kWarm);
  const Addr a = kLo, b = kLo + kPmdSize;
  t.map(FileAt(f17, 0, a, 20 * kP, /*shared=*/true));
  t.map(FileAt(f18, 0, b, 20 * kP, /*shared=*/true));
  ExpectFailsUnchanged(t, [&] { return t.read(a + 17 * kP); }, Errc::kBus, "one-page window");
  EXPECT_EQ(Present(t.observed(), a, a + 20 * kP), 0u);
  EXPECT_TRUE(IsErr(t.read(b + 18 * kP), Errc::kBus));
  const model::System seen = t.observed();
  EXPECT_EQ(Present(seen, b, b + 20 * kP), 2u);
  EXPECT_TRUE(seen.page(b + 16 * kP).has_value());
  EXPECT_TRUE(seen.page(b + 17 * kP).has_value());
  t.ExpectSameState();
}

TEST(ImplFault, FaultAroundMapsTheAligned16PageWindow) {
  //   page:  0 ........ 3 ........ 15 | 16 ... 19   (file of 20 pages, warm)
  //          [===== window of 16 =====)
  Twin t;
  const FileId f = t.create_file(MarkedPages(20), Cache::kWarm);
  t.map(FileAt(f, 0, kLo, 20 * kP, /*shared=*/true));
  const std::size_t folios = t.observed().folios().size();
  ASSERT_TRUE(IsOk(t.read(kLo + 3 * kP)));
  model::System seen = t.observed();
  EXPECT_EQ(seen.folios().size(), folios) << "fault-around allocates no folio";
  EXPECT_EQ(t.mm().rss(), (Rss{16, 0}));
  for (int i = 0; i < 16; ++i) {
    const auto v = seen.page(kLo + i * kP);
    ASSERT_TRUE(v.has_value()) << i;
    EXPECT_FALSE(v->writable) << i;
    EXPECT_EQ(v->folio, Cached(seen, f, i)) << i;
    EXPECT_EQ(v->young, i == 3) << i << ": only the faulting page is young";
  }
  EXPECT_FALSE(seen.page(kLo + 16 * kP).has_value());
  t.ExpectSameState();
  // The next window is clamped to the VMA end / EOF.
  ASSERT_TRUE(IsOk(t.read(kLo + 17 * kP)));
  EXPECT_EQ(t.mm().rss(), (Rss{20, 0}));
  t.ExpectSameState();
}

TEST(ImplFault, FaultAroundIsClampedToTheVmaStartAndEnd) {
  //   pte index: 0    5                  21             35
  //              |    |--- VMA (30 pages of a 40-page file) ---|
  //                   [== 16 entries ===)                  read at VMA start
  //   read at VMA offset 20 (pte 25): window [16, 32) = VMA offsets 11..26
  //   read at VMA offset 29 (pte 34): window [32, 48) clamped to the VMA end
  Twin t;
  const FileId f = t.create_file(MarkedPages(40), Cache::kWarm);
  const Addr start = kLo + 5 * kP;
  t.map(FileAt(f, 0, start, 30 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.read(start)));
  EXPECT_EQ(t.mm().rss().file, 16);
  EXPECT_TRUE(View(t, start + 15 * kP).has_value());
  EXPECT_FALSE(View(t, start + 16 * kP).has_value());
  ASSERT_TRUE(IsOk(t.read(start + 20 * kP)));
  EXPECT_EQ(t.mm().rss().file, 27);
  EXPECT_FALSE(View(t, start + 27 * kP).has_value());
  ASSERT_TRUE(IsOk(t.read(start + 29 * kP)));
  EXPECT_EQ(t.mm().rss().file, 30);
  EXPECT_FALSE(View(t, start + 30 * kP).has_value());
  t.ExpectSameState();
}

TEST(ImplFault, FaultAroundIsClampedToThePteTable) {
  //   pte 508 509 510 511 | 0 1 2 3      (VMA of 8 pages across a 2 MiB edge)
  Twin t;
  const FileId f = t.create_file(MarkedPages(8), Cache::kWarm);
  const Addr start = kLo + kPmdSize - 4 * kP;
  t.map(FileAt(f, 0, start, 8 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.read(start)));
  const model::System seen = t.observed();
  EXPECT_EQ(Present(seen, start, start + 4 * kP), 4u);
  EXPECT_EQ(Present(seen, start + 4 * kP, start + 8 * kP), 0u);
  EXPECT_EQ(t.mm().table_counts().pte, 1u);
  t.ExpectSameState();
}

TEST(ImplFault, FaultAroundKeepsExistingPtes) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(4), Cache::kWarm);
  t.map(FileAt(f, 0, kLo, 4 * kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.write(kLo + kP, 0x99)));  // private copy of page 1
  const FolioId copy = View(t, kLo + kP)->folio;
  ASSERT_TRUE(IsOk(t.read(kLo)));
  EXPECT_EQ(t.mm().rss(), (Rss{3, 1}));
  EXPECT_EQ(View(t, kLo + kP)->folio, copy);
  EXPECT_EQ(t.read(kLo + kP).value(), 0x99);
  t.ExpectSameState();
}

// ===========================================================================
// Transparent huge pages
// ===========================================================================

TEST(ImplFault, ThpAlignedBlockIsOnePmdLeaf) {
  Twin t;
  t.map(AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.write(kLo + 5 * kP + 3, 7)));
  model::System seen = t.observed();
  ASSERT_EQ(seen.page_table().pmd_leaves.size(), 1u);
  const auto& [block, leaf] = *seen.page_table().pmd_leaves.begin();
  EXPECT_EQ(block, kLo);
  EXPECT_TRUE(leaf.writable && leaf.dirty && leaf.young);
  const model::Folio& f = seen.folios().at(leaf.folio);
  EXPECT_EQ(f.order, 9u);
  EXPECT_EQ(f.refcount, 1u) << "one PMD mapping";
  EXPECT_EQ(seen.page(kLo + 5 * kP)->subpage, 5u);
  EXPECT_EQ(seen.page(kLo + kPmdSize - kP)->folio, leaf.folio);
  EXPECT_FALSE(seen.page(kLo + kPmdSize).has_value());
  EXPECT_EQ(t.mm().rss(), (Rss{0, 512}));
  EXPECT_EQ(t.mm().table_counts(), (TableCounts{0, 1, 1})) << "no PTE table";
  EXPECT_EQ(t.read(kLo + 5 * kP + 3).value(), 7);
  // A read fault maps a THP as well (not the zero page).
  ASSERT_TRUE(IsOk(t.read(kLo + kPmdSize + 1)));
  seen = t.observed();
  EXPECT_EQ(seen.page_table().pmd_leaves.size(), 2u);
  EXPECT_FALSE(seen.page(kLo + kPmdSize)->zero_page);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 1024}));
  t.ExpectSameState();
}

TEST(ImplFault, NoThpWithoutHugePageWithNoHugePageOrUnaligned) {
  //   block 0: no advice; block 2: NOHUGEPAGE; blocks 4-5: HUGEPAGE VMA
  //   starting one page into block 4, so no aligned block lies inside it.
  Twin t;
  t.map(AnonAt(kLo, kPmdSize));
  t.map(AnonAt(kLo + 2 * kPmdSize, kPmdSize, kRW, flags::kNoHugePage));
  t.map(AnonAt(kLo + 4 * kPmdSize + kP, kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.write(kLo, 1)));
  ASSERT_TRUE(IsOk(t.write(kLo + 2 * kPmdSize, 1)));
  ASSERT_TRUE(IsOk(t.write(kLo + 4 * kPmdSize + 2 * kP, 1)));
  ASSERT_TRUE(IsOk(t.write(kLo + 5 * kPmdSize, 1)));
  const model::System seen = t.observed();
  EXPECT_TRUE(seen.page_table().pmd_leaves.empty());
  for (const auto& [id, f] : seen.folios()) EXPECT_EQ(f.order, 0u) << id;
  EXPECT_EQ(t.mm().rss(), (Rss{0, 4}));
  EXPECT_EQ(t.mm().table_counts().pte, 4u);
  t.ExpectSameState();
}

TEST(ImplFault, WriteToAReadOnlyThpAfterMprotect) {
  //   mprotect R write-protects the leaf; a write is SIGSEGV; mprotect RW
  //   leaves it read-only; the next write reuses the THP and makes it
  //   writable. The same for a THP that was read-faulted in a read-only VMA.
  Twin t;
  t.map(AnonAt(kLo, kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.write(kLo + kP, 1)));
  const FolioId thp = View(t, kLo)->folio;
  ASSERT_TRUE(IsOk(t.mprotect(kLo, kPmdSize, kR)));
  EXPECT_FALSE(t.observed().page_table().pmd_leaves.at(kLo).writable);
  ExpectFailsUnchanged(t, [&] { return t.write(kLo, 2); }, Errc::kSegv, "read-only VMA");
  ASSERT_TRUE(IsOk(t.mprotect(kLo, kPmdSize, kRW)));
  EXPECT_FALSE(t.observed().page_table().pmd_leaves.at(kLo).writable);
  ASSERT_TRUE(IsOk(t.write(kLo + 2 * kP, 3)));
  model::System seen = t.observed();
  EXPECT_TRUE(seen.page_table().pmd_leaves.at(kLo).writable);
  EXPECT_EQ(seen.page_table().pmd_leaves.at(kLo).folio, thp);
  EXPECT_EQ(seen.folios().size(), 1u);
  EXPECT_EQ(t.read(kLo + kP).value(), 1);
  t.ExpectSameState();

  const Addr ro = kLo + 2 * kPmdSize;
  t.map(AnonAt(ro, kPmdSize, kR, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.read(ro)));
  ASSERT_EQ(t.observed().page_table().pmd_leaves.count(ro), 1u);
  EXPECT_FALSE(t.observed().page_table().pmd_leaves.at(ro).writable);
  ASSERT_TRUE(IsOk(t.mprotect(ro, kPmdSize, kRW)));
  ASSERT_TRUE(IsOk(t.write(ro + 7, 4)));
  seen = t.observed();
  EXPECT_TRUE(seen.page_table().pmd_leaves.at(ro).writable);
  EXPECT_EQ(seen.folios().size(), 2u);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 1024}));
  t.ExpectSameState();
}

// ===========================================================================
// populate (MADV_POPULATE_WRITE)
// ===========================================================================

// The pages some CPU's TLB holds a translation for, in [lo, hi).
std::vector<Addr> Cached(Mm& mm, Addr lo, Addr hi) {
  std::vector<Addr> out;
  for (int cpu = 0; cpu < Tlbs::kCpus; ++cpu)
    for (Addr a : MmTestPeer::tlb_pages(mm, cpu))
      if (a >= lo && a < hi) out.push_back(a);
  return out;
}

TEST(ImplFault, PopulateFaultsAcrossTablesAndFillsNoTlb) {
  // 600 pages across a 2 MiB boundary: two PTE tables, more than one
  // gather batch of pages. The zero page read on CPU 1 is copied, and its
  // translation shot down.
  Twin t;
  const Addr lo = kLo + kPmdSize - 300 * kP, hi = lo + 600 * kP;
  t.map(AnonAt(lo, 600 * kP));
  ASSERT_TRUE(IsOk(t.model.read(lo + 7 * kP)));
  ASSERT_TRUE(IsOk(t.mm().read(lo + 7 * kP, 1)));
  ASSERT_EQ(Cached(t.mm(), lo, hi), std::vector<Addr>{lo + 7 * kP});
  ASSERT_TRUE(IsOk(t.populate(lo, 600 * kP)));
  const model::System seen = t.observed();
  EXPECT_EQ(Present(seen, lo, hi), 600u);
  EXPECT_EQ(t.mm().rss(), (Rss{0, 600}));
  EXPECT_EQ(t.mm().table_counts().pte, 2u);
  EXPECT_TRUE(Cached(t.mm(), lo, hi).empty()) << "GUP fills no TLB, and the copy flushed CPU 1's";
  t.ExpectSameState();
  // Every error of the model's, at the same page.
  EXPECT_TRUE(IsErr(t.populate(lo + 1, kP), Errc::kInval));
  EXPECT_TRUE(IsErr(t.populate(lo, ~std::uint64_t{0}), Errc::kInval));
  EXPECT_TRUE(IsErr(t.populate(hi - kP, 2 * kP), Errc::kNoMem));
  t.map(AnonAt(hi + kP, kP, kR));
  EXPECT_TRUE(IsErr(t.populate(hi + kP, kP), Errc::kInval));
  t.ExpectSameState();
}

TEST(ImplFault, PopulateOfFilesThpAndDriversMatchesTheModel) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(6, 0x50), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 8 * kP, /*shared=*/false));
  EXPECT_TRUE(IsErr(t.populate(kLo, 8 * kP), Errc::kFault)) << "SIGBUS at file page 6";
  t.map(FileAt(f, 1, kLo + 16 * kP, 4 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.read(kLo + 17 * kP)));
  ASSERT_TRUE(IsOk(t.writeback(f)));
  ASSERT_TRUE(IsOk(t.populate(kLo + 16 * kP, 4 * kP)));
  t.map(AnonAt(kLo + kPmdSize, 2 * kPmdSize, kRW, flags::kHugePage));
  ASSERT_TRUE(IsOk(t.populate(kLo + kPmdSize + kP, kPmdSize)));
  EXPECT_EQ(t.observed().page_table().pmd_leaves.size(), 2u);
  ASSERT_TRUE(IsOk(t.mprotect(kLo + kPmdSize, kPmdSize, kR)));
  ASSERT_TRUE(IsOk(t.mprotect(kLo + kPmdSize, kPmdSize, kRW)));
  ASSERT_TRUE(IsOk(t.populate(kLo + kPmdSize, kP)));
  t.map(DriverAt(kLo + 64 * kP, 2 * kP));
  const FolioId page = t.alloc_page().value();
  ASSERT_TRUE(IsOk(t.vm_insert_page(kLo + 64 * kP, kLo + 64 * kP, page)));
  EXPECT_TRUE(IsErr(t.populate(kLo + 64 * kP, 2 * kP), Errc::kFault)) << "the inserted page, then no page";
  t.map(AnonAt(kLo + 80 * kP, 2 * kP));
  t.fail_next_allocation();
  EXPECT_TRUE(IsErr(t.populate(kLo + 80 * kP, 2 * kP), Errc::kNoMem));
  t.ExpectSameState();
}

// ===========================================================================
// Concurrency
// ===========================================================================

// Four threads fault the same 64 pages of a shared, warm file mapping at
// once, each visiting them in its own order: read byte 0 (the file's tag),
// write its own byte, read that byte back. Whatever the interleaving, every
// page ends up mapped writable, dirty and young, by one PTE per page-cache
// folio, with every write in it: exactly the state of running the same
// accesses one after the other on the model.
//
// A race (two faults installing the same slot) shows only in some rounds,
// so there are many; each checks what is cheap to read (results, rss,
// folio refcounts and dirty bits), and the first also replays the accesses
// on the model and compares everything (ExpectSameState, which includes
// check_invariants: rss == present PTEs), then writes back.
TEST(ImplFault, FourThreadsFaultOneSharedFileMapping) {
  constexpr int kThreads = 4;
  constexpr int kPages = 64;
  constexpr int kRounds = 20;
  const std::vector<PageBytes> contents = MarkedPages(kPages);
  // All threads start at page 0 (contention at once), then stride apart;
  // an odd stride makes each visit order a permutation.
  auto order = [](int k, int i) { return (i * (2 * k + 1)) % kPages; };
  auto offset = [](int k) { return static_cast<std::uint32_t>(1000 + k); };
  auto value = [](int k, int p) { return static_cast<std::uint8_t>((k * kPages + p) % 255 + 1); };

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    Twin t;
    const FileId f = t.create_file(contents, Cache::kWarm);
    const Addr base = t.map(FileAt(f, 0, kLo, kPages * kP, /*shared=*/true));
    ASSERT_EQ(base, kLo);
    auto addr = [base](int p) { return base + static_cast<Addr>(p) * kP; };

    std::vector<int> bad(kThreads, 0);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int k = 0; k < kThreads; ++k) {
      threads.emplace_back([&, k] {
        MmWithUser& mm = t.mm();
        start.arrive_and_wait();
        for (int i = 0; i < kPages; ++i) {
          const int p = order(k, i);
          auto tag = mm.read(addr(p));
          if (!tag.ok() || tag.value() != contents[p].get(0)) ++bad[k];
          if (!mm.write(addr(p) + offset(k), value(k, p)).ok()) ++bad[k];
          auto back = mm.read(addr(p) + offset(k));
          if (!back.ok() || back.value() != value(k, p)) ++bad[k];
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int k = 0; k < kThreads; ++k) EXPECT_EQ(bad[k], 0) << "thread " << k;

    // Every byte written is read back afterwards, by anyone.
    for (int p = 0; p < kPages; ++p) {
      for (int k = 0; k < kThreads; ++k) {
        auto r = t.mm().read(addr(p) + offset(k));
        ASSERT_TRUE(IsOk(r)) << p;
        EXPECT_EQ(r.value(), value(k, p)) << "page " << p << " thread " << k;
      }
    }
    EXPECT_EQ(t.mm().rss(), (Rss{kPages, 0}));
    File* file = t.kernel.file(f);
    ASSERT_NE(file, nullptr);
    for (int p = 0; p < kPages; ++p) {
      Folio* fo = file->find_folio(p);
      ASSERT_NE(fo, nullptr) << p;
      EXPECT_EQ(fo->refcount().value(), 2u) << p << ": page cache + one PTE";
      EXPECT_TRUE(fo->dirty()) << p;
    }
    if (round > 0) continue;

    // The same accesses, sequentially, on the model (the reads above
    // included), and the full comparison.
    for (int k = 0; k < kThreads; ++k) {
      for (int i = 0; i < kPages; ++i) {
        const int p = order(k, i);
        ASSERT_TRUE(IsOk(t.model.read(addr(p))));
        ASSERT_TRUE(IsOk(t.model.write(addr(p) + offset(k), value(k, p))));
        ASSERT_TRUE(IsOk(t.model.read(addr(p) + offset(k))));
      }
    }
    for (int p = 0; p < kPages; ++p) {
      for (int k = 0; k < kThreads; ++k) ASSERT_TRUE(IsOk(t.model.read(addr(p) + offset(k))));
    }
    const model::System seen = t.observed();
    for (int p = 0; p < kPages; ++p) {
      const auto v = seen.page(addr(p));
      ASSERT_TRUE(v.has_value()) << p;
      EXPECT_TRUE(v->writable && v->dirty && v->young) << p;
      EXPECT_EQ(v->folio, Cached(seen, f, p)) << p;
    }
    t.ExpectSameState();
    // Every write reaches the file.
    ASSERT_TRUE(IsOk(t.writeback(f)));
    for (int p = 0; p < kPages; ++p) {
      for (int k = 0; k < kThreads; ++k)
        EXPECT_EQ(t.kernel.disk_page(f, p).get(offset(k)), value(k, p)) << p << " " << k;
    }
    t.ExpectSameState();
  }
}

}  // namespace
}  // namespace mmv::impl::test
