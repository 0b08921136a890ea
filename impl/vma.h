// VmaRef, VmaMixedMap and VmaReadGuard: one virtual memory area of an mm
// (the kernel's vm_area_struct) and the ways to reach it
// (kernel::mm::virt::{VmaRef, VmaMixedMap}; SPEC.md sections 2, 3, 5).
//
// A VmaRef has no public constructor. It is reached only through a guard
// that keeps it valid -- MmapReadGuard::vma_lookup (impl/mm.h), or the
// VmaReadGuard that MmWithUser::lock_vma_under_rcu returns -- and must not
// be used after that guard is gone. C++ cannot say "this reference lives no
// longer than that guard" the way Rust's lifetimes do; keeping VmaRef
// pointers out of longer-lived places is the caller's obligation.
//
// Thread safety:
//  - start, end, flags and backing change only under the mm's mmap write
//    lock AND this VMA's write lock (Mm::vma_start_write). Reading them
//    needs the mmap read lock or this VMA's read lock; Clang cannot express
//    "either lock", so the accessors are unannotated and the guarantee comes
//    from VmaRef being reachable only through a guard.
//  - anon_vma is set once, from 0, by a fault holding either lock (under the
//    mm's anon_vma lock); it is an atomic so mmap writers may read it.
//  - vm_lock_seq and detached are atomics read by lock_vma_under_rcu before
//    it holds anything.
//
// Invariants:
//  1. start < end, page-aligned, inside [kMmapMinAddr, kTaskSize).
//  2. Write-locked <=> vm_lock_seq == mm's MmapLock::seq(); only possible
//     while the mmap write lock is held; it ends when that lock is released.
//  3. detached is false exactly while the VMA is in its mm's tree; a VMA
//     is detached only while write-locked, and freed only a grace period
//     after (impl/rcu.h), so an RCU reader that found it may still lock it
//     and see `detached`.
//  4. Every VMA object is allocated as a VmaMixedMap; as_mixedmap_vma()
//     hands that view out only when MIXEDMAP is set.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <shared_mutex>

#include "impl/atomic.h"
#include "impl/lockdep.h"
#include "impl/sched_hooks.h"
#include "impl/thread_annotations.h"
#include "model/addr.h"
#include "model/flags.h"
#include "model/result.h"
#include "model/system.h"  // ZapOutcome
#include "model/vma.h"     // Backing, VmaNew, VmaNewOp

namespace mmv::impl {

class Mm;
class MmWithUser;
class Page;
class VmaMixedMap;

// The per-VMA read/write lock (the kernel's vma->vm_lock).
class MMV_CAPABILITY("vma_lock") VmaLock {
 public:
  bool try_lock_shared() MMV_TRY_ACQUIRE_SHARED(true) {
    sched_point("vma read trylock");
    if (!rw_.try_lock_shared()) return false;
    sched_acquired(&rw_);
    lockdep::acquire(lockdep::LockClass::kVma, this, /*trylock=*/true);
    return true;
  }
  void unlock_shared() MMV_RELEASE_SHARED() {
    lockdep::release(lockdep::LockClass::kVma, this);
    sched_unlock_shared(rw_);
  }
  void lock() MMV_ACQUIRE() {
    lockdep::acquire(lockdep::LockClass::kVma, this);
    sched_lock(rw_, "vma write lock");
  }
  void unlock() MMV_RELEASE() {
    lockdep::release(lockdep::LockClass::kVma, this);
    sched_unlock(rw_);
  }

 private:
  std::shared_mutex rw_;
};

class VmaRef {
 public:
  VmaRef(const VmaRef&) = delete;
  VmaRef& operator=(const VmaRef&) = delete;

  Addr start() const { return start_; }
  Addr end() const { return end_; }
  VmFlags flags() const { return flags_; }
  const Backing& backing() const { return backing_; }
  MmWithUser& mm() const { return *mm_; }
  bool contains(Addr a) const { return start_ <= a && a < end_; }
  std::uint64_t anon_vma() const { return anon_vma_.load(std::memory_order_acquire); }
  // This VMA as a value in the model's vocabulary (model/vma.h).
  Vma as_vma() const { return Vma{start_, end_, flags_, backing_, anon_vma()}; }

  // The VmaMixedMap view of this VMA, or null if MIXEDMAP is not set.
  VmaMixedMap* as_mixedmap_vma();

  // Removes every mapping in [address, address + size) (SPEC.md section 5).
  // Bad input -- address + size overflows, address < start(), or
  // address + size > end() -- is a no-op counted in Mm::zap_rejections()
  // (the kernel's Rust wrapper returns silently); kRejected says so.
  ZapOutcome zap_page_range_single(Addr address, std::uint64_t size);

 protected:
  VmaRef(MmWithUser* mm, Addr start, Addr end, VmFlags flags, Backing backing)
      : mm_(mm), start_(start), end_(end), flags_(flags), backing_(backing) {}
  ~VmaRef() = default;

 private:
  friend class Mm;
  friend class MmWithUser;
  friend class Observer;
  friend class VmaReadGuard;
  friend class MmTestPeer;  // unit tests' access to internals

  MmWithUser* const mm_;
  Addr start_;
  Addr end_;
  VmFlags flags_;
  Backing backing_;
  std::atomic<std::uint64_t> anon_vma_{0};
  VmaLock lock_;
  static constexpr std::uint64_t kNeverLocked = std::numeric_limits<std::uint64_t>::max();
  Atomic<std::uint64_t> vm_lock_seq_{kNeverLocked};
  Atomic<bool> detached_{true};
};

class VmaMixedMap : public VmaRef {
 public:
  // Maps `page`, a caller-owned order-0 page, at the page containing addr,
  // taking a reference on it (counted in rss as a file page); the caller
  // keeps its own. Errors in the kernel's order: addr outside the VMA ->
  // EFAULT; the zero page, an anonymous page or a folio whose refcount is 0
  // -> EINVAL; page-table allocation -> ENOMEM; entry present -> EBUSY.
  // REQUIRES: the guard this VMA came from is alive (mmap read lock or this
  // VMA's read lock).
  Status vm_insert_page(Addr addr, Page& page);

 private:
  friend class Mm;
  friend class MmWithUser;
  using VmaRef::VmaRef;
};

// A read lock on one VMA, taken without the mmap lock.
class MMV_SCOPED_CAPABILITY VmaReadGuard {
 public:
  VmaReadGuard(VmaReadGuard&& o) noexcept : vma_(std::exchange(o.vma_, nullptr)) {}
  VmaReadGuard& operator=(VmaReadGuard&&) = delete;
  VmaReadGuard(const VmaReadGuard&) = delete;
  // Clang checks scoped capabilities, not moves; the moved-from guard
  // releases nothing.
  ~VmaReadGuard() MMV_RELEASE() MMV_NO_THREAD_SAFETY_ANALYSIS {
    if (vma_) vma_->lock_.unlock_shared();
  }

  VmaRef& vma() const { return *vma_; }
  VmaRef* operator->() const { return vma_; }

 private:
  friend class MmWithUser;
  // Adopts a read lock the caller has already taken on `vma`.
  explicit VmaReadGuard(VmaRef* vma) : vma_(vma) {}
  VmaRef* vma_;
};

}  // namespace mmv::impl
