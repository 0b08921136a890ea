// The mmap lock, the per-VMA locks and lock_vma_under_rcu (SPEC.md
// section 2). Lookup under each guard, try-locking against a writer, each of
// lock_vma_under_rcu's post-lock re-checks driven into its failing state
// with MmTestPeer (impl/test_peer.h), the end of every VMA write lock at the
// mmap write unlock, a VMA read lock holding off a writer, and a smoke test
// of faults racing mprotect and zap.
//
// Multithreaded tests here only assert what holds under every interleaving;
// threads wait for each other through atomics, never through sleeps.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "impl/test_peer.h"
#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

// Two adjacent VMAs that do not merge (Y never was writable):
//   kLo          kX=kLo+4p      kY=kLo+8p      kEnd=kLo+12p
//   |  (hole)    |---- X (RW) ---|---- Y (R) ---|  (hole)
class ImplLocks : public ::testing::Test {
 protected:
  static constexpr Addr kX = kLo + 4 * kP;
  static constexpr Addr kY = kLo + 8 * kP;
  static constexpr Addr kEnd = kLo + 12 * kP;

  void SetUp() override {
    ASSERT_TRUE(IsOk(mm_.mmap(AnonAt(kX, 4 * kP))));
    ASSERT_TRUE(IsOk(mm_.mmap(AnonAt(kY, 4 * kP, kR))));
    ASSERT_EQ(mm_.vmas().size(), 2u);
  }
  void TearDown() override {
    ExpectNoViolations(mm_.check_invariants(), "impl invariants");
    EXPECT_TRUE(kernel_.bugs().empty());
  }

  // The bounds of the VMA lock_vma_under_rcu returns for addr, if any.
  std::optional<std::pair<Addr, Addr>> RcuBounds(Addr addr) {
    auto g = mm_.lock_vma_under_rcu(addr);
    if (!g) return std::nullopt;
    return std::make_pair(g->vma().start(), g->vma().end());
  }

  Kernel kernel_;
  ARef<MmWithUser> ref_ = kernel_.mm_alloc(kLo, kHi);
  MmWithUser& mm_ = *ref_;
};

using Bounds = std::optional<std::pair<Addr, Addr>>;
constexpr Bounds kNone = std::nullopt;
Bounds B(Addr s, Addr e) { return std::make_pair(s, e); }

// ---- Lookup ------------------------------------------------------------------

TEST_F(ImplLocks, VmaLookupBoundaries) {
  struct Case {
    Addr addr;
    Bounds want;
  };
  const Case cases[] = {
      {0, kNone},
      {kLo, kNone},
      {kX - 1, kNone},           // just before X
      {kX, B(kX, kY)},           // at start: inclusive
      {kX + 2 * kP + 17, B(kX, kY)},
      {kY - 1, B(kX, kY)},       // last byte of X
      {kY, B(kY, kEnd)},         // X's end is exclusive: Y begins there
      {kEnd - 1, B(kY, kEnd)},
      {kEnd, kNone},             // after
      {kHi, kNone},
      {kTaskSize - 1, kNone},
      {kTaskSize, kNone},
      {~Addr{0}, kNone},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "addr=0x" << std::hex << c.addr);
    {
      MmapReadGuard g(mm_);
      VmaRef* v = g.vma_lookup(c.addr);
      EXPECT_EQ(v ? B(v->start(), v->end()) : kNone, c.want) << "MmapReadGuard";
      if (v) {
        EXPECT_EQ(&v->mm(), &mm_);
      }
    }
    {
      MmapWriteGuard g(mm_);
      VmaRef* v = g.vma_lookup(c.addr);
      EXPECT_EQ(v ? B(v->start(), v->end()) : kNone, c.want) << "MmapWriteGuard";
    }
    EXPECT_EQ(RcuBounds(c.addr), c.want) << "lock_vma_under_rcu";
  }
}

TEST_F(ImplLocks, LockVmaUnderRcuGivesTheVmaReadLocked) {
  auto g = mm_.lock_vma_under_rcu(kX + kP);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->vma().start(), kX);
  EXPECT_EQ(g->vma().end(), kY);
  EXPECT_EQ(g->vma().flags() & flags::kProtMask, kRW);
  EXPECT_EQ(&g->vma().mm(), &mm_);
  // Read locks share: a second reader of the same VMA gets in too.
  auto g2 = mm_.lock_vma_under_rcu(kX);
  ASSERT_TRUE(g2.has_value());
  EXPECT_EQ(&g2->vma(), &g->vma());
  // A moved guard keeps the lock; the moved-from one releases nothing.
  // (In an optional, like the API hands guards out: Clang's analysis
  // follows scoped capabilities, not moves.)
  std::optional<VmaReadGuard> moved(std::move(*g));
  g.reset();
  EXPECT_EQ(moved->vma().start(), kX);
}

// ---- mmap_read_trylock -----------------------------------------------------

TEST_F(ImplLocks, TryLockSucceedsAlongsideOtherReaders) {
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};
  std::thread reader([&] {
    MmapReadGuard g(mm_);
    held.store(true);
    while (!release.load()) std::this_thread::yield();
  });
  while (!held.load()) std::this_thread::yield();
  {
    // (No ASSERTs while the reader waits: it must be released and joined.)
    auto t = MmapReadGuard::try_lock(mm_);
    EXPECT_TRUE(t.has_value()) << "readers share the lock";
    if (t) {
      VmaRef* v = t->vma_lookup(kX);
      EXPECT_TRUE(v != nullptr && v->start() == kX);
      EXPECT_EQ(&t->mm(), &mm_);
    }
  }
  release.store(true);
  reader.join();
}

TEST_F(ImplLocks, TryLockFailsWhileAWriterHolds) {
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};
  std::thread writer([&] {
    MmapWriteGuard g(mm_);
    held.store(true);
    while (!release.load()) std::this_thread::yield();
  });
  while (!held.load()) std::this_thread::yield();
  EXPECT_FALSE(MmapReadGuard::try_lock(mm_).has_value());
  EXPECT_FALSE(MmapReadGuard::try_lock(mm_).has_value());
  release.store(true);
  writer.join();
  EXPECT_TRUE(MmapReadGuard::try_lock(mm_).has_value()) << "free again once the writer is gone";
}

// The per-VMA lock is the point of lock_vma_under_rcu: a writer holding the
// mmap lock for something else does not stop readers of VMAs it has not
// write-locked.
TEST_F(ImplLocks, LockVmaUnderRcuIgnoresAWriterThatLeftTheVmaAlone) {
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};
  std::thread writer([&] {
    MmapWriteGuard g(mm_);
    held.store(true);
    while (!release.load()) std::this_thread::yield();
  });
  while (!held.load()) std::this_thread::yield();
  EXPECT_EQ(RcuBounds(kX), B(kX, kY));
  EXPECT_EQ(RcuBounds(kY), B(kY, kEnd));
  release.store(true);
  writer.join();
}

// ---- Post-lock re-checks ---------------------------------------------------

// (a) Write-locked by the current writer: skipped. The write lock ends with
// the mmap write lock: the sequence number moves on at the unlock.
TEST_F(ImplLocks, WriteLockedVmaIsSkippedUntilTheMmapWriteUnlock) {
  std::uint64_t seq_during = 0;
  const std::uint64_t seq_before = MmTestPeer::mmap_seq(mm_);
  {
    MmapWriteGuard w(mm_);
    VmaRef* x = w.vma_lookup(kX);
    ASSERT_NE(x, nullptr);
    EXPECT_FALSE(MmTestPeer::write_locked(mm_, *x));
    MmTestPeer::vma_start_write(mm_, *x);
    EXPECT_TRUE(MmTestPeer::write_locked(mm_, *x));
    EXPECT_FALSE(mm_.lock_vma_under_rcu(kX).has_value());
    EXPECT_FALSE(mm_.lock_vma_under_rcu(kY - 1).has_value());
    EXPECT_EQ(RcuBounds(kY), B(kY, kEnd)) << "Y was not write-locked";
    seq_during = MmTestPeer::mmap_seq(mm_);
    EXPECT_EQ(seq_during, seq_before) << "taking the write lock does not move the sequence";
  }
  EXPECT_GT(MmTestPeer::mmap_seq(mm_), seq_during);
  {
    MmapReadGuard r(mm_);
    VmaRef* x = r.vma_lookup(kX);
    ASSERT_NE(x, nullptr);
    EXPECT_FALSE(MmTestPeer::write_locked(mm_, *x));
  }
  EXPECT_EQ(RcuBounds(kX), B(kX, kY));
}

// Every VMA write lock of a write period ends at once when it ends, and the
// next write period does not inherit them.
TEST_F(ImplLocks, MmapWriteUnlockEndsEveryVmaWriteLock) {
  {
    MmapWriteGuard w(mm_);
    MmTestPeer::vma_start_write(mm_, *w.vma_lookup(kX));
    MmTestPeer::vma_start_write(mm_, *w.vma_lookup(kY));
    EXPECT_TRUE(MmTestPeer::write_locked(mm_, *w.vma_lookup(kX)));
    EXPECT_TRUE(MmTestPeer::write_locked(mm_, *w.vma_lookup(kY)));
  }
  const std::uint64_t seq = MmTestPeer::mmap_seq(mm_);
  {
    MmapReadGuard r(mm_);  // read periods do not move the sequence
  }
  EXPECT_EQ(MmTestPeer::mmap_seq(mm_), seq);
  {
    MmapWriteGuard w(mm_);
    EXPECT_FALSE(MmTestPeer::write_locked(mm_, *w.vma_lookup(kX)));
    EXPECT_FALSE(MmTestPeer::write_locked(mm_, *w.vma_lookup(kY)));
    // Even under a new writer, both are readable until it marks them.
    EXPECT_EQ(RcuBounds(kX), B(kX, kY));
    EXPECT_EQ(RcuBounds(kY), B(kY, kEnd));
  }
  EXPECT_GT(MmTestPeer::mmap_seq(mm_), seq);
}

// (b) Detached but still in the published snapshot (a munmap in flight):
// the lookup finds the stale entry, locks it, sees `detached`, backs off.
TEST_F(ImplLocks, DetachedVmaStillInTheSnapshotIsRefused) {
  VmaRef* x = nullptr;
  {
    MmapWriteGuard w(mm_);
    x = w.vma_lookup(kX);
    ASSERT_NE(x, nullptr);
    MmTestPeer::detach_unpublished(mm_, *x);
    EXPECT_EQ(w.vma_lookup(kX), nullptr) << "gone from the tree";
  }
  // x stays allocated: removed VMAs are retired only when a snapshot
  // without them is published. After the unlock it is no longer
  // write-locked, so `detached` is the only reason left to refuse it.
  EXPECT_TRUE(MmTestPeer::detached(*x));
  EXPECT_FALSE(MmTestPeer::write_locked(mm_, *x));
  EXPECT_FALSE(mm_.check_invariants().empty()) << "the snapshot still names X";
  EXPECT_EQ(RcuBounds(kX), kNone);
  EXPECT_EQ(RcuBounds(kX + 3 * kP), kNone);
  EXPECT_EQ(RcuBounds(kY), B(kY, kEnd)) << "the neighbour is unaffected";
  {
    MmapWriteGuard w(mm_);
    MmTestPeer::publish(mm_);
  }
  EXPECT_EQ(RcuBounds(kX), kNone);
  EXPECT_EQ(mm_.vmas().size(), 1u);
  // TearDown: the snapshot and the tree agree again.
}

// (c) Shrunk under the reader: the snapshot still says [kX, kY), the VMA
// now ends at kX + 2p. An address past the new end is refused; one inside
// is granted with the VMA's real bounds.
TEST_F(ImplLocks, VmaNoLongerContainingTheAddressIsRefused) {
  const Addr new_end = kX + 2 * kP;
  {
    MmapWriteGuard w(mm_);
    MmTestPeer::set_end_unpublished(mm_, *w.vma_lookup(kX), new_end);
  }
  {
    MmapReadGuard r(mm_);
    VmaRef* x = r.vma_lookup(kX);
    ASSERT_NE(x, nullptr);
    EXPECT_FALSE(MmTestPeer::write_locked(mm_, *x));
    EXPECT_FALSE(MmTestPeer::detached(*x));
    EXPECT_EQ(r.vma_lookup(new_end), nullptr);
  }
  EXPECT_EQ(RcuBounds(new_end), kNone);
  EXPECT_EQ(RcuBounds(kY - 1), kNone);
  EXPECT_EQ(RcuBounds(kX + kP), B(kX, new_end)) << "the reader sees the new bounds";
  {
    MmapWriteGuard w(mm_);
    MmTestPeer::publish(mm_);
  }
  EXPECT_EQ(RcuBounds(new_end), kNone);
  EXPECT_EQ(RcuBounds(kX), B(kX, new_end));
}

// (d) A VMA of another mm (as if X's memory had been reused for it): the
// lookup locks it, sees the wrong mm, backs off.
TEST_F(ImplLocks, VmaOfAnotherMmIsRefused) {
  ARef<MmWithUser> other = kernel_.mm_alloc(kLo, kHi);
  ASSERT_TRUE(IsOk(other->mmap(AnonAt(kX, 4 * kP))));
  VmaRef* foreign = nullptr;
  {
    MmapReadGuard r(*other);
    foreign = r.vma_lookup(kX);
  }
  ASSERT_NE(foreign, nullptr);
  // Nothing else about it would make the lookup fail.
  EXPECT_FALSE(MmTestPeer::write_locked(mm_, *foreign));
  EXPECT_FALSE(MmTestPeer::write_locked(*other, *foreign));
  EXPECT_FALSE(MmTestPeer::detached(*foreign));
  ASSERT_EQ(RcuBounds(kX), B(kX, kY)) << "before: mm_'s own X";

  const VmaSnapshot* saved = MmTestPeer::plant_foreign(mm_, *foreign);
  EXPECT_EQ(RcuBounds(kX), kNone);
  EXPECT_EQ(RcuBounds(kX + 3 * kP), kNone);
  {
    auto g = other->lock_vma_under_rcu(kX);  // its own mm takes it fine
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(&g->vma(), foreign);
  }
  MmTestPeer::restore(mm_, saved);

  auto g = mm_.lock_vma_under_rcu(kX);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(&g->vma().mm(), &mm_);
  EXPECT_NE(&g->vma(), foreign);
}

// ---- A VMA read lock holds off vma_start_write ---------------------------------

// The main thread holds X's read lock; a writer mprotects X, which must
// write-lock X first. The writer records, right after mprotect returns,
// whether the main thread had already announced the release: it must have.
TEST_F(ImplLocks, VmaReadGuardHoldsOffAWriterOfThatVma) {
  std::optional<VmaReadGuard> g = mm_.lock_vma_under_rcu(kX);
  ASSERT_TRUE(g.has_value());
  std::atomic<bool> guard_released{false};
  std::atomic<bool> writer_done{false};
  bool saw_release = false;
  Status result = Errc::kInval;
  std::thread writer([&] {
    result = mm_.mprotect(kX, 4 * kP, kR);
    saw_release = guard_released.load();
    writer_done.store(true);
  });
  // Give the writer the chance to get stuck (it holds the mmap write lock
  // while it waits for X); the verdict does not depend on whether it did.
  while (!writer_done.load() && MmapReadGuard::try_lock(mm_).has_value())
    std::this_thread::yield();
  guard_released.store(true);
  g.reset();
  writer.join();
  EXPECT_TRUE(IsOk(result));
  EXPECT_TRUE(saw_release) << "mprotect finished while X was read-locked";
  // X, read-only and never faulted, gave its charge back and joined Y.
  EXPECT_EQ(RcuBounds(kX), B(kX, kEnd));
  MmapReadGuard r(mm_);
  EXPECT_EQ(r.vma_lookup(kX)->flags() & flags::kProtMask, kR);
}

// ---- as_mixedmap_vma --------------------------------------------------------

TEST_F(ImplLocks, AsMixedMapVmaOnlyForMixedMapVmas) {
  const Addr d = kLo + 16 * kP;
  const Addr plain = kLo + 20 * kP;
  ASSERT_TRUE(IsOk(mm_.mmap(DriverAt(d, 2 * kP))));
  ASSERT_TRUE(IsOk(mm_.mmap(DriverAt(plain, kP, {VmaNewOp::kSetDontExpand}))));
  {
    MmapReadGuard r(mm_);
    VmaRef* dv = r.vma_lookup(d);
    ASSERT_NE(dv, nullptr);
    ASSERT_TRUE(dv->flags() & flags::kMixedMap);
    VmaMixedMap* m = dv->as_mixedmap_vma();
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(static_cast<VmaRef*>(m), dv) << "a view of the same VMA";
    EXPECT_EQ(m->start(), d);
    EXPECT_EQ(r.vma_lookup(kX)->as_mixedmap_vma(), nullptr) << "anonymous";
    VmaRef* pv = r.vma_lookup(plain);
    ASSERT_NE(pv, nullptr);
    EXPECT_FALSE(pv->flags() & flags::kMixedMap);
    EXPECT_EQ(pv->as_mixedmap_vma(), nullptr) << "driver VMA without MIXEDMAP";
  }
  // Also reachable under the VMA read lock alone.
  auto g = mm_.lock_vma_under_rcu(d + kP);
  ASSERT_TRUE(g.has_value());
  EXPECT_NE(g->vma().as_mixedmap_vma(), nullptr);
  auto a = mm_.lock_vma_under_rcu(kX);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->vma().as_mixedmap_vma(), nullptr);
}

// ---- Smoke: faults racing mprotect and zap -----------------------------------

// 64 anonymous pages. Four threads read and write their own pages (page i
// belongs to thread i % 4) through MmWithUser::read/write -- the VMA-lock
// path with the mmap-lock fallback -- while a mutator moves a read-only
// window of 4 pages around the first half (mprotect), zaps the window, and
// zaps single pages of the second half. Under every interleaving:
//  - a read never fails and returns 0 (zapped) or the owner's last write;
//  - a write fails only with SEGV, and only in the first half;
//  - mprotect always succeeds and every zap is kZapped (each range lies
//    inside one VMA).
TEST_F(ImplLocks, FaultsRacingMprotectAndZapSmoke) {
  constexpr int kWorkers = 4;
  constexpr int kIters = 2000;
  constexpr int kPages = 64;
  const Addr base = kLo + 32 * kP;
  ASSERT_TRUE(IsOk(mm_.mmap(AnonAt(base, kPages * kP))));
  // Gives the VMA its anon_vma before any split, so that every piece shares
  // it and the pieces merge back (a piece faulted first after a split would
  // get an anon_vma of its own). Writes 0: reads still see 0 or the owner's.
  ASSERT_TRUE(IsOk(mm_.write(base, 0)));

  std::atomic<int> workers_left{kWorkers};
  std::atomic<bool> mutator_started{false};
  std::atomic<int> bad{0};
  std::atomic<int> segv_writes{0};
  std::vector<std::thread> threads;
  // The mutator is started first and the workers wait for its first
  // mprotect, so that the two overlap for most of the run.
  threads.emplace_back([&] {
    std::mt19937 rng(99);
    constexpr Addr kRange = 4 * kP;
    Addr prev = base;
    if (!mm_.mprotect(prev, kRange, kR).ok()) bad.fetch_add(1);
    mutator_started.store(true);
    while (workers_left.load() > 0) {
      // Moves the read-only window: [ro, ro + 4p) somewhere in the first
      // half. All read-only pieces merge, so the window lies in one VMA.
      const Addr ro = base + (rng() % (kPages / 2 - 3)) * kP;
      if (!mm_.mprotect(prev, kRange, kRW).ok()) bad.fetch_add(1);
      if (!mm_.mprotect(ro, kRange, kR).ok()) bad.fetch_add(1);
      if (!Zapped(mm_.zap_page_range_single(ro, ro, kRange))) bad.fetch_add(1);
      const Addr rw = base + (kPages / 2 + rng() % (kPages / 2)) * kP;
      if (!Zapped(mm_.zap_page_range_single(rw, rw, kP))) bad.fetch_add(1);
      prev = ro;
    }
    if (!mm_.mprotect(prev, kRange, kRW).ok()) bad.fetch_add(1);
  });
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      while (!mutator_started.load()) std::this_thread::yield();
      std::mt19937 rng(1234 + w);
      std::uint8_t last[kPages] = {};
      for (int n = 0; n < kIters; ++n) {
        const int page = w + kWorkers * static_cast<int>(rng() % (kPages / kWorkers));
        const Addr a = base + page * kP + w;
        if (rng() % 2) {
          const auto v = static_cast<std::uint8_t>(n % 255 + 1);
          Status s = mm_.write(a, v);
          if (s.ok()) {
            last[page] = v;
          } else if (s.error() == Errc::kSegv && page < kPages / 2) {
            segv_writes.fetch_add(1);
          } else {
            bad.fetch_add(1);
          }
        } else {
          auto r = mm_.read(a);
          if (!r.ok() || (r.value() != 0 && r.value() != last[page])) bad.fetch_add(1);
        }
      }
      workers_left.fetch_sub(1);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  // How much the race bit this run (informational: not deterministic).
  RecordProperty("segv_writes", segv_writes.load());
  // Every mprotect was undone: one VMA again, writable throughout.
  MmapReadGuard r(mm_);
  VmaRef* v = r.vma_lookup(base);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->start(), base);
  EXPECT_EQ(v->end(), base + kPages * kP);
  // TearDown: invariants and no bugs.
}

}  // namespace
}  // namespace mmv::impl::test
