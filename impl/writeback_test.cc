// Files, the page cache and writeback on the impl (SPEC.md section 4;
// model/system.h: shared file mappings are write-notified, and writeback
// write-protects and cleans every PTE of each folio it writes, so no write is
// ever lost), against the model with Twin, plus a writer racing writeback.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "impl/test_peer.h"
#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

using model::test::CachedFolio;
using model::test::FindFolio;
using model::test::FolioAt;

TEST(ImplWriteback, DirtyPagesReachDiskAndPtesAreCleaned) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(3), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 3 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + 10, 0xa0)));
  ASSERT_TRUE(IsOk(t.write(kLo + kP + 20, 0xa1)));
  ASSERT_TRUE(IsOk(t.read(kLo + 2 * kP)));  // mapped, clean
  EXPECT_NE(t.kernel.disk_page(f, 0).get(10), 0xa0) << "not on disk before writeback";
  t.ExpectSameState();
  const Rss rss = t.mm().rss();

  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(10), 0xa0);
  EXPECT_EQ(t.kernel.disk_page(f, 1).get(20), 0xa1);
  EXPECT_EQ(t.kernel.disk_page(f, 2), MarkedPages(3)[2]);
  const model::System seen = t.observed();
  for (int i = 0; i < 3; ++i) {
    const model::Folio* fo = FindFolio(seen, CachedFolio(seen, f, i));
    ASSERT_NE(fo, nullptr) << i;
    EXPECT_FALSE(fo->dirty) << i;
    auto v = seen.page(kLo + i * kP);
    ASSERT_TRUE(v.has_value()) << i << ": writeback does not unmap";
    EXPECT_FALSE(v->writable) << i;
    EXPECT_FALSE(v->dirty) << i;
  }
  EXPECT_EQ(t.mm().rss(), rss);
  t.ExpectSameState();
}

TEST(ImplWriteback, NextWriteFaultsRedirtiesAndASecondWritebackPersistsIt) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + 1, 0x01)));
  ASSERT_TRUE(IsOk(t.writeback(f)));
  const FolioId c = CachedFolio(t.observed(), f, 0);
  ASSERT_FALSE(FindFolio(t.observed(), c)->dirty);
  ASSERT_FALSE(t.observed().page(kLo)->writable);

  // The store hits a write-protected PTE: a write fault makes it writable
  // and dirties the folio again (write-notify).
  ASSERT_TRUE(IsOk(t.write(kLo + 2, 0x02)));
  {
    const model::System seen = t.observed();
    EXPECT_TRUE(seen.page(kLo)->writable);
    EXPECT_TRUE(seen.page(kLo)->dirty);
    EXPECT_EQ(FolioAt(seen, kLo), c) << "the same page-cache folio, no copy";
    EXPECT_TRUE(FindFolio(seen, c)->dirty) << "the second write re-dirtied the folio";
  }
  EXPECT_NE(t.kernel.disk_page(f, 0).get(2), 0x02) << "not yet written back";
  t.ExpectSameState();

  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(1), 0x01);
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(2), 0x02);
  EXPECT_FALSE(FindFolio(t.observed(), c)->dirty);
  t.ExpectSameState();
}

TEST(ImplWriteback, EveryPteOfTheFolioIsWriteProtected) {
  // Two shared mappings of the same file page share one folio.
  //   kLo        kLo+1p       kLo+4p      kLo+5p
  //   |- map A --|            |- map B ---|      (both: file page 0)
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/true));
  t.map(FileAt(f, 0, kLo + 4 * kP, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + 8, 0x31)));
  ASSERT_TRUE(IsOk(t.write(kLo + 4 * kP + 9, 0x32)));
  EXPECT_EQ(t.read(kLo + 9).value(), 0x32) << "B's write is visible through A";
  ASSERT_TRUE(IsOk(t.writeback(f)));
  {
    const model::System seen = t.observed();
    for (Addr a : {kLo, kLo + 4 * kP}) {
      EXPECT_FALSE(seen.page(a)->writable);
      EXPECT_FALSE(seen.page(a)->dirty);
    }
  }
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(8), 0x31);
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(9), 0x32);
  t.ExpectSameState();
  // A write through either mapping re-dirties; only its own PTE opens up.
  ASSERT_TRUE(IsOk(t.write(kLo + 4 * kP + 10, 0x33)));
  const model::System seen = t.observed();
  EXPECT_TRUE(FindFolio(seen, FolioAt(seen, kLo))->dirty);
  EXPECT_FALSE(seen.page(kLo)->writable);
  t.ExpectSameState();
}

TEST(ImplWriteback, PrivateCopiesNeverReachTheFile) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/false));
  ASSERT_TRUE(IsOk(t.write(kLo, 0x99)));
  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0), MarkedPages(1)[0]);
  EXPECT_EQ(t.kernel.file_page(f, 0), MarkedPages(1)[0]) << "the page cache is untouched too";
  EXPECT_TRUE(t.observed().page(kLo)->writable) << "an anonymous copy is not write-protected";
  EXPECT_EQ(t.read(kLo).value(), 0x99);
  t.ExpectSameState();
}

TEST(ImplWriteback, OnlyTheNamedFileAndUnknownFileIsEinval) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  const FileId g = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/true));
  t.map(FileAt(g, 0, kLo + kP, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo, 0x70)));
  ASSERT_TRUE(IsOk(t.write(kLo + kP, 0x71)));
  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(0), 0x70);
  EXPECT_NE(t.kernel.disk_page(g, 0).get(0), 0x71);
  EXPECT_TRUE(t.observed().page(kLo + kP)->writable);
  t.ExpectSameState();
  const model::System before = t.observed();
  EXPECT_TRUE(IsErr(t.writeback(g + 100), Errc::kInval));
  EXPECT_TRUE(IsErr(t.writeback(0), Errc::kInval));
  EXPECT_TRUE(before == t.observed());
  t.ExpectSameState();
}

TEST(ImplWriteback, ZappedDataStillReachesDisk) {
  // zap moves the dirty bit from the PTE to the folio; munmap likewise.
  Twin t;
  const FileId f = t.create_file(MarkedPages(2), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + 5, 0x41)));
  ASSERT_TRUE(IsOk(t.write(kLo + kP + 5, 0x42)));
  ASSERT_TRUE(Zapped(t.zap(kLo, kLo, kP)));
  ASSERT_TRUE(IsOk(t.munmap(kLo + kP, kP)));
  EXPECT_EQ(t.mm().rss(), Rss{});
  t.ExpectSameState();
  ASSERT_TRUE(IsOk(t.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(5), 0x41);
  EXPECT_EQ(t.kernel.disk_page(f, 1).get(5), 0x42);
  t.ExpectSameState();
  EXPECT_EQ(t.read(kLo + 5).value(), 0x41) << "and faulting it back shows the same data";
  t.ExpectSameState();
}

TEST(ImplWriteback, ExitWritesBackMappedFiles) {
  // The last mmput tears the address space down and writes back the files
  // it mapped. An mm_count reference keeps the object around to look at.
  Twin t;
  const FileId f = t.create_file(MarkedPages(2), Cache::kCold);
  t.map(FileAt(f, 0, kLo, 2 * kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(t.write(kLo + 3, 0x5a)));
  ASSERT_TRUE(IsOk(t.write(kLo + kP + 4, 0x5b)));
  ASSERT_TRUE(IsOk(t.model.mmgrab()));
  ARef<Mm> keep = t.mm().grab();
  ASSERT_TRUE(IsOk(t.model.mmput()));
  t.mmput();
  EXPECT_EQ(keep->life(), LifeState::kTornDown);
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(3), 0x5a);
  EXPECT_EQ(t.kernel.disk_page(f, 1).get(4), 0x5b);
  EXPECT_EQ(t.model.disk_page(f, 0).get(3), 0x5a);
  const model::System seen = observe(t.kernel, *keep);
  EXPECT_TRUE(t.model == seen) << model::diff(t.model, seen);
  EXPECT_FALSE(FindFolio(seen, CachedFolio(seen, f, 0))->dirty);
  EXPECT_EQ(keep->rss(), Rss{});
  EXPECT_EQ(keep->table_counts(), TableCounts{});
  ExpectNoViolations(keep->check_invariants(), "impl invariants after exit");
  EXPECT_TRUE(t.kernel.bugs().empty());
  ASSERT_TRUE(IsOk(t.model.mmdrop()));
}

TEST(ImplWriteback, ConcurrentWriterLosesNothing) {
  // One thread stores 1, 2, ..., 255 into one byte of a shared file mapping
  // while another writes the file back over and over; a few rounds, each on
  // its own byte. Under every interleaving: what the disk holds only grows
  // (writebacks are serialised and each copies the latest store it sees),
  // and one last writeback puts 255 on disk.
  constexpr int kRounds = 8;
  constexpr int kLast = 255;
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/true));
  MmWithUser& mm = t.mm();
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    const std::uint32_t off = 16 + round;  // 0 in a Marked page
    ASSERT_EQ(MarkedPages(1)[0].get(off), 0);
    std::atomic<bool> done{false};
    std::atomic<int> errors{0};
    std::atomic<int> went_backwards{0};
    std::thread writer([&] {
      for (int v = 1; v <= kLast; ++v)
        if (!mm.write(kLo + off, static_cast<std::uint8_t>(v)).ok()) ++errors;
      done.store(true, std::memory_order_release);
    });
    std::thread flusher([&] {
      int seen = 0;
      do {
        if (!t.kernel.writeback(f).ok()) ++errors;
        const int now = t.kernel.disk_page(f, 0).get(off);
        if (now < seen) ++went_backwards;
        seen = now;
      } while (!done.load(std::memory_order_acquire));
    });
    writer.join();
    flusher.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(went_backwards.load(), 0);
    ASSERT_TRUE(IsOk(t.kernel.writeback(f)));
    EXPECT_EQ(t.kernel.disk_page(f, 0).get(off), kLast) << "the last store reached the disk";
    // Whatever happened in between, the result is that of the last store
    // followed by a writeback.
    ASSERT_TRUE(IsOk(t.model.write(kLo + off, kLast)));
    ASSERT_TRUE(IsOk(t.model.writeback(f)));
    t.ExpectSameState();
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_TRUE(t.kernel.bugs().empty());
}

TEST(ImplWriteback, StoreAfterTheCopyOfARacingWritebackIsNotLost) {
  // The interleaving that ConcurrentWriterLosesNothing hits only by chance,
  // driven step by step. Writeback of a dirty folio visits every mm that
  // maps the file (in Mm* order); holding the second mm's mmap lock stops
  // it between the first mm's folio_mkclean and the end of the folio's
  // writeback:
  //   writeback W                         | store S (through mm `lo`)
  //   mkclean(lo): PTE read-only          |
  //   mkclean(hi): waits for hi's lock    | v2: write fault, PTE writable,
  //                                       |     folio dirty; stores v2
  //   (lock released) clear dirty, copy   |
  //                                       | v3: PTE writable, no fault
  // Nothing makes the folio dirty after W cleared it, so unless W clears
  // the dirty bit before it write-protects (or the fault waits for W), v3
  // never reaches the disk. Faults here do not wait for writeback (there is
  // no folio lock); were that to change, the guarded wait below keeps the
  // test from deadlocking and the verdict is the same.
  Twin t;
  const FileId f = t.create_file(MarkedPages(1), Cache::kCold);
  ARef<MmWithUser> other = t.kernel.mm_alloc(kLo, kHi);
  const bool twin_first = std::less<Mm*>()(&t.mm(), other.get());
  MmWithUser& lo = twin_first ? t.mm() : *other;
  MmWithUser& hi = twin_first ? *other : t.mm();
  t.map(FileAt(f, 0, kLo, kP, /*shared=*/true));
  ASSERT_TRUE(IsOk(other->mmap(FileAt(f, 0, kLo, kP, /*shared=*/true))));
  ASSERT_TRUE(IsOk(lo.write(kLo, 1)));  // dirty, mapped writable in lo only

  std::mutex m;
  std::condition_variable cv;
  bool hi_locked = false, release_hi = false, v2_done = false;
  std::thread holder([&] {
    MmapWriteGuard g(hi);
    std::unique_lock<std::mutex> l(m);
    hi_locked = true;
    cv.notify_all();
    cv.wait(l, [&] { return release_hi; });
  });
  {
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return hi_locked; });
  }
  std::thread writeback([&] { EXPECT_TRUE(IsOk(t.kernel.writeback(f))); });
  // W has write-protected lo's PTE and now waits for hi's lock.
  while (MmTestPeer::page_tables(lo).pte(kLo).writable()) std::this_thread::yield();
  std::thread store([&] {
    EXPECT_TRUE(IsOk(lo.write(kLo, 2)));
    std::lock_guard<std::mutex> l(m);
    v2_done = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> l(m);
    cv.wait_for(l, std::chrono::seconds(5), [&] { return v2_done; });  // liveness only
    release_hi = true;
    cv.notify_all();
  }
  store.join();
  holder.join();
  writeback.join();
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(0), 2) << "v2 was stored before W's copy";
  ASSERT_TRUE(IsOk(lo.write(kLo, 3)));
  ASSERT_TRUE(IsOk(t.kernel.writeback(f)));
  EXPECT_EQ(t.kernel.disk_page(f, 0).get(0), 3) << "the store after W's copy was lost";
  ExpectNoViolations(lo.check_invariants(), "impl invariants");
  EXPECT_TRUE(t.kernel.bugs().empty());

  // Bring the twin in step: the same stores, sequentially, on the model;
  // then both sides drop their mappings (munmap does not write back, so the
  // disk still shows what the last writeback left there).
  for (std::uint8_t v : {1, 2, 3}) {
    ASSERT_TRUE(IsOk(t.model.write(kLo, v)));
    ASSERT_TRUE(IsOk(t.model.writeback(f)));
  }
  ASSERT_TRUE(IsOk(t.munmap(kLo, kP)));
  ASSERT_TRUE(IsOk(other->munmap(kLo, kP)));
  t.ExpectSameState();
}

}  // namespace
}  // namespace mmv::impl::test
