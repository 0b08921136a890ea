// MmapLock: an mm's mmap read/write lock (the kernel's mmap_lock), with the
// sequence number that the per-VMA locks are built on (SPEC.md section 2).
//
// Thread safety: a reader/writer lock; lock and unlock on the same thread.
//
// Invariants:
//  1. seq() changes only in unlock(): each write-locked period has its own
//     number, seq() while it lasts. A VMA whose vm_lock_seq equals seq() is
//     write-locked by the current writer (impl/vma.h); unlock() ends every
//     such VMA write lock at once by moving seq() on.
//  2. seq() is published with release in unlock() and read with acquire, so
//     a VMA reader that sees the new number also sees every change the
//     writer made to the VMAs before it unlocked.
#pragma once

#include <atomic>
#include <cstdint>
#include <shared_mutex>

#include "impl/atomic.h"
#include "impl/fault_switch.h"
#include "impl/lockdep.h"
#include "impl/sched_hooks.h"
#include "impl/thread_annotations.h"

namespace mmv::impl {

class MMV_CAPABILITY("mmap_lock") MmapLock {
 public:
  MmapLock() = default;
  MmapLock(const MmapLock&) = delete;
  MmapLock& operator=(const MmapLock&) = delete;

  void lock() MMV_ACQUIRE() {
    lockdep::acquire(lockdep::LockClass::kMmap, this);
    sched_lock(rw_, "mmap write lock");
  }
  void unlock() MMV_RELEASE() {
    // Test-only fault (impl/fault_switch.h): the increment relaxed.
    seq_.fetch_add(1, fault_active(Fault::kSeqUnlockRelaxed) ? std::memory_order_relaxed : std::memory_order_release);
    lockdep::release(lockdep::LockClass::kMmap, this);
    sched_unlock(rw_);
  }
  void lock_shared() MMV_ACQUIRE_SHARED() {
    lockdep::acquire(lockdep::LockClass::kMmap, this);
    sched_lock_shared(rw_, "mmap read lock");
  }
  bool try_lock_shared() MMV_TRY_ACQUIRE_SHARED(true) {
    sched_point("mmap read trylock");
    if (!rw_.try_lock_shared()) return false;
    sched_acquired(&rw_);
    lockdep::acquire(lockdep::LockClass::kMmap, this, /*trylock=*/true);
    return true;
  }
  void unlock_shared() MMV_RELEASE_SHARED() {
    lockdep::release(lockdep::LockClass::kMmap, this);
    sched_unlock_shared(rw_);
  }

  // For guards, whose ownership of this lock Clang cannot see: tells the
  // analysis the lock is held (no runtime check).
  void assert_held() const MMV_ASSERT_CAPABILITY(this) {}
  void assert_held_shared() const MMV_ASSERT_SHARED_CAPABILITY(this) {}

  // The kernel's mm_lock_seq (a scheduling point: VMA lockers race on it).
  std::uint64_t seq() const {
    sched_point("mm_lock_seq read");
    return seq_.load(std::memory_order_acquire);
  }

 private:
  std::shared_mutex rw_;
  // Its own cache line: every read-locker writes rw_, and every per-VMA
  // lock attempt reads seq_.
  alignas(64) Atomic<std::uint64_t> seq_{0};
};

}  // namespace mmv::impl
