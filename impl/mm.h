// Mm, MmWithUser, ARef and the mmap lock guards: one address space, its
// lifetime, its VMAs and its page table (kernel::mm::{Mm, MmWithUser};
// SPEC.md sections 1-5). Behaviour matches model::System operation for
// operation -- results, errors and their order, VMA merging, VM_ACCOUNT,
// fault-around, THP, copy-on-write, allocation-gate points -- so that
// properties can compare the two directly (impl/observe.h).
//
// The level of access is in the type: an Mm (reached through ARef<Mm>, an
// mm_count reference) can only be inspected or upgraded with
// mmget_not_zero(); an MmWithUser (ARef<MmWithUser>, an mm_users
// reference) is a usable address space. Both are the same object.
//
// Thread safety:
//  - Lifetime counters are atomic refcounts (impl/refcount.h).
//  - vmas_ (the authoritative VMA set) and mapped_files_ are guarded by the
//    mmap lock: shared to read, exclusive to change. Every change to a VMA
//    write-locks that VMA first (vma_start_write).
//  - The RCU snapshot of the VMA set (rcu_vmas_) is republished by writers
//    after each change, with a release store; lock_vma_under_rcu reads it
//    with an acquire load inside an RCU read section. Snapshots and removed
//    VMAs are freed a grace period after they are replaced.
//  - Page-table entries: impl/page_table.h. rss counters are per-CPU
//    (impl/percpu_counter.h), table counters atomics, both updated with the
//    entries they count.
//  - Faults and zaps run with the mmap read lock or the VMA's read lock;
//    mmap/munmap/mprotect/exit_mmap with the mmap write lock.
//  Lock order: mmap -> VMA -> page_table_lock -> PMD -> PTE (lockdep).
//
// Invariants (check_invariants() verifies them on a quiescent mm):
//  1. VMAs are non-overlapping, sorted, inside the user range, and the RCU
//     snapshot lists exactly vmas_ with their current bounds.
//  2. No VMA is write-locked and none is detached while no writer runs.
//  3. rss counters == present PTEs (+ 512 per PMD leaf) of each kind; table
//     counters == linked tables.
//  4. Every present entry lies inside a VMA; folio refcounts obey
//     impl/folio.h invariant 1.
//  5. Once mm_users is 0, no VMA, mapping or table is left.
//  6. Every translation a CPU's TLB holds is its page's current entry, with
//     no more permission (impl/tlb.h): a shootdown left out shows as soon
//     as the operation that owed it has returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "impl/atomic.h"
#include "impl/kernel.h"
#include "impl/mmap_lock.h"
#include "impl/page_table.h"
#include "impl/percpu_counter.h"
#include "impl/rcu.h"
#include "impl/refcount.h"
#include "impl/thread_annotations.h"
#include "impl/tlb.h"
#include "impl/vma.h"
#include "model/system.h"  // MmapRequest, Rss, TableCounts, ZapOutcome, LifeState

namespace mmv::impl {

class MmuGather;
class MmWithUser;
class MmapReadGuard;

// An owning reference: copy takes another reference, destruction drops it
// (copy = T::aref_inc, destroy = T::aref_dec). ARef<Mm> holds mm_count
// (mmgrab/mmdrop); ARef<MmWithUser> holds mm_users (mmget/mmput). A
// moved-from ARef is empty and may only be destroyed or assigned.
template <class T>
class ARef {
 public:
  // SAFETY: `p` carries one reference, which the new ARef takes over.
  static ARef adopt(T* p) { return ARef(p); }
  ARef(const ARef& o) : p_(o.p_) {
    if (p_) T::aref_inc(*p_);
  }
  ARef(ARef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  ARef& operator=(ARef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~ARef() {
    if (p_) T::aref_dec(*p_);
  }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  T* get() const { return p_; }
  // Gives up ownership without dropping the reference (see adopt()).
  T* into_raw() { return std::exchange(p_, nullptr); }

 private:
  explicit ARef(T* p) : p_(p) {}
  T* p_;
};

// An immutable copy of the VMA set for RCU readers: ranges are copied in,
// so a lookup never reads a VMA's fields before it holds that VMA's lock.
struct VmaSnapshot {
  struct Entry {
    Addr start;
    Addr end;
    VmaRef* vma;
  };
  std::vector<Entry> entries;  // sorted by start
  VmaRef* find(Addr a) const;
};

class Mm {
 public:
  Mm(const Mm&) = delete;
  Mm& operator=(const Mm&) = delete;

  // ---- Lifetime (SPEC.md section 1) --------------------------------------
  // Raw counter operations; prefer ARef. Misuse (a drop of the users' own
  // mm_count reference, an underflow, saturation) is reported to
  // Kernel::bugs() and changes nothing, like the model.
  void mmgrab();
  // The last drop frees the object after check_mm. SAFETY: the caller owns
  // the mm_count reference it drops and does not touch the Mm afterwards.
  void mmdrop();
  ARef<Mm> grab();  // mmgrab as an ARef
  // An mm_users reference, unless the last user is already gone (then
  // empty, for ever).
  std::optional<ARef<MmWithUser>> mmget_not_zero();
  std::uint32_t mm_users() const { return users_.value(); }
  std::uint32_t mm_count() const { return count_.value(); }
  LifeState life() const;

  // SAFETY (from_raw): `p` came from as_raw() of an Mm on which the caller
  // holds an mm_count reference for as long as it uses the result.
  static Mm& from_raw(void* p) { return *static_cast<Mm*>(p); }
  void* as_raw() { return this; }

  Kernel& kernel() const { return kernel_; }

  // ---- Observation (any time; exact on a quiescent mm) -------------------
  Rss rss() const;
  TableCounts table_counts() const;
  std::uint64_t zap_rejections() const { return zap_rejections_.load(std::memory_order_relaxed); }
  std::uint64_t tlb_flushes() const { return tlb_flushes_.load(std::memory_order_relaxed); }
  // REQUIRES: no operation on this mm runs concurrently.
  std::vector<std::string> check_invariants();

  static void aref_inc(Mm& m) { m.mmgrab(); }
  static void aref_dec(Mm& m) { m.mmdrop(); }

 protected:
  Mm(Kernel& kernel, Addr window_lo, Addr window_hi);
  std::uint64_t creation_seq() const { return creation_seq_; }
  ~Mm();

 private:
  friend class MmWithUser;
  friend class MmapReadGuard;
  friend class MmapWriteGuard;
  friend class MmuGather;
  friend class Observer;
  friend class File;
  friend class Kernel;
  friend class VmaRef;
  friend class VmaMixedMap;
  friend class MmTestPeer;  // unit tests' access to internals (impl/*_test.cc)

  // ---- lifetime.cc
  void exit_mmap() MMV_EXCLUDES(mmap_lock_);
  // The last user's work: exit_mmap, then drop the users' mm_count.
  void exit_and_drop_users_count() MMV_EXCLUDES(mmap_lock_);
  void check_mm();
  void free_object();

  // ---- mmap.cc: the VMA set. All REQUIRES the mmap write lock.
  bool range_free(Addr lo, Addr hi) const MMV_REQUIRES_SHARED(mmap_lock_);
  std::optional<Addr> find_gap(Addr hint, std::uint64_t len) const MMV_REQUIRES_SHARED(mmap_lock_);
  VmaRef* find_vma(Addr a) const MMV_REQUIRES_SHARED(mmap_lock_);
  int splits_needed(Addr lo, Addr hi) const MMV_REQUIRES_SHARED(mmap_lock_);
  void split_vma_at(Addr at) MMV_REQUIRES(mmap_lock_);
  void merge_around(VmaRef* v) MMV_REQUIRES(mmap_lock_);
  // vma_modify: [lo, hi), inside one VMA, gets flags `f`: what lies outside
  // it is split off, the VMA write-locked, changed, and merged with its
  // neighbours (mprotect, and mmap's HUGEPAGE advice).
  void modify_flags(Addr lo, Addr hi, VmFlags f) MMV_REQUIRES(mmap_lock_);
  void vma_start_write(VmaRef& v) MMV_REQUIRES(mmap_lock_);
  void insert_vma(VmaRef* v) MMV_REQUIRES(mmap_lock_);
  void remove_vma(VmaRef* v) MMV_REQUIRES(mmap_lock_);
  void publish_vmas() MMV_REQUIRES(mmap_lock_);
  bool covered(Addr lo, Addr hi) const MMV_REQUIRES_SHARED(mmap_lock_);
  // Clears the write bit of every entry in [lo, hi); the caller flushes
  // the TLBs (flush_tlb).
  void write_protect(Addr lo, Addr hi) MMV_REQUIRES(mmap_lock_);
  // TLB shootdowns on every CPU of this mm (impl/tlb.h), counted in
  // tlb_flushes().
  void flush_tlb(Addr lo, Addr hi);
  void flush_tlb_all();
  // The locked bodies of the system calls.
  Result<Addr> mmap_locked(const MmapRequest& req, std::uint64_t len, File* file)
      MMV_REQUIRES(mmap_lock_);
  Status munmap_locked(Addr lo, Addr hi) MMV_REQUIRES(mmap_lock_);
  Status mprotect_locked(Addr lo, Addr hi, VmFlags prot) MMV_REQUIRES(mmap_lock_);
  // folio_mkclean for one mm: write-protects and cleans every PTE of this
  // mm that maps `folio` (page `index` of `file`).
  void mkclean(File& file, Folio& folio) MMV_EXCLUDES(mmap_lock_);
  // Frees the tables in [lo, hi) that no VMA covers any more.
  void free_pgtables(Addr lo, Addr hi) MMV_REQUIRES(mmap_lock_);

  // ---- fault.cc: REQUIRES the mmap read lock or `v`'s read lock.
  // What access() does once the entry allows it: a CPU load or store, or
  // GUP's FOLL_WRITE for populate (no store, no TLB fill).
  enum class Touch { kLoad, kStore, kPopulate };
  // The access by `cpu` after its TLB missed: walks (faulting as needed),
  // and caches the translation in cpu's TLB.
  Result<std::uint8_t> access(VmaRef& v, Addr addr, Touch how, std::uint8_t value, int cpu);
  Status fault_missing(VmaRef& v, Addr addr, bool write);
  Status fault_present(VmaRef& v, Addr addr);
  void fault_around(VmaRef& v, File& file, Addr addr);
  // REQUIRES: the mmap read lock when v has no anon_vma yet (fault.cc).
  void ensure_anon_vma(VmaRef& v) MMV_EXCLUDES(anon_vma_lock_);
  // Installs `pte` at addr if the slot is empty (else drops the reference
  // the caller brought along for it); counts rss. False if it was not empty.
  bool install_pte(PteTable& t, Addr addr, Pte pte);

  // ---- zap.cc: REQUIRES the mmap lock (either mode) or the VMA's read lock.
  void zap_range(Addr lo, Addr hi, MmuGather& tlb);
  // Splits the THP leaf at `block` into 512 PTEs, if one is there.
  void split_pmd(Addr block);
  void rss_add(FolioKind kind, std::int64_t delta);

  Kernel& kernel_;
  const Addr window_lo_;
  const Addr window_hi_;
  // The order of creation in this process: what orders the mms a file's
  // writeback walks, so that the walk's order (and the scheduling points
  // it passes) does not depend on where the allocator put them.
  const std::uint64_t creation_seq_;
  AtomicRefcount users_{1};
  AtomicRefcount count_{1};

  MmapLock mmap_lock_;
  std::map<Addr, VmaRef*> vmas_ MMV_GUARDED_BY(mmap_lock_);
  std::set<File*> mapped_files_ MMV_GUARDED_BY(mmap_lock_);
  Atomic<const VmaSnapshot*> rcu_vmas_;
  // VMAs removed by the current writer, retired once a snapshot without
  // them is published (retiring earlier could free one that the published
  // snapshot still names).
  std::vector<VmaRef*> removed_ MMV_GUARDED_BY(mmap_lock_);

  PageTables pt_;
  // MM_FILEPAGES and MM_ANONPAGES, per CPU (impl/percpu_counter.h).
  static constexpr std::size_t kRssFile = 0, kRssAnon = 1;
  PerCpuCounters<2> rss_;
  // Written by zaps and flushes: a line of their own, away from what a
  // fault on another VMA reads.
  alignas(64) std::atomic<std::uint64_t> zap_rejections_{0};
  std::atomic<std::uint64_t> tlb_flushes_{0};
  // MmuGathers in flight on this mm (the kernel's tlb_flush_pending).
  Atomic<int> tlb_flush_pending_{0};
  Tlbs tlbs_;
  alignas(64) Mutex anon_vma_lock_{lockdep::LockClass::kPageTableLock};
  std::uint64_t next_anon_vma_ MMV_GUARDED_BY(anon_vma_lock_) = 1;
};

class MmWithUser : public Mm {
 public:
  static void aref_inc(MmWithUser& m) { m.mmget(); }
  static void aref_dec(MmWithUser& m) { m.mmput(); }

  // ---- Lifetime ----------------------------------------------------------
  // SAFETY (all three): the caller owns an mm_users reference.
  void mmget();
  // The last one tears the address space down (exit_mmap), then drops the
  // users' mm_count reference; the MmWithUser must not be used after.
  void mmput();
  // Same, with the teardown run on the Kernel's worker thread.
  void mmput_async();

  // ---- Locks (SPEC.md section 2): MmapReadGuard / MmapWriteGuard below.
  // An optimistic per-VMA read lock on the VMA containing addr, without the
  // mmap lock. Empty if there is no such VMA, or it is being written, was
  // detached, belongs to another mm, or no longer contains addr once
  // locked; the caller then falls back to the mmap read lock.
  std::optional<VmaReadGuard> lock_vma_under_rcu(Addr addr);

  // ---- System calls: model::System's, with the same results and errors --
  Result<Addr> mmap(const MmapRequest& req) MMV_EXCLUDES(mmap_lock_);
  Status munmap(Addr addr, std::uint64_t len) MMV_EXCLUDES(mmap_lock_);
  Status mprotect(Addr addr, std::uint64_t len, VmFlags prot) MMV_EXCLUDES(mmap_lock_);

  // ---- CPU accesses: a load/store of one byte, faulting as needed. Tries
  // the VMA read lock first and falls back to the mmap read lock, as the
  // kernel's page-fault handler does.
  // `cpu` names the CPU (impl/tlb.h): its TLB is looked in first, and only
  // a miss takes a lock and walks.
  Result<std::uint8_t> read(Addr addr, int cpu = 0) MMV_EXCLUDES(mmap_lock_);
  Status write(Addr addr, std::uint8_t value, int cpu = 0) MMV_EXCLUDES(mmap_lock_);
  // madvise(MADV_POPULATE_WRITE): model::System::populate's rule and
  // errors. Under the mmap read lock, as the kernel's GUP runs, each page
  // goes through the fault handler (access(), Touch::kPopulate); no TLB is
  // filled.
  Status populate(Addr addr, std::uint64_t len) MMV_EXCLUDES(mmap_lock_);

  // ---- model::System-shaped conveniences: look up the VMA at vma_addr
  // under the mmap read lock (NO_VMA if none, or for vm_insert_page if it
  // lacks MIXEDMAP) and call the VmaRef/VmaMixedMap method.
  Result<ZapOutcome> zap_page_range_single(Addr vma_addr, Addr address, std::uint64_t size)
      MMV_EXCLUDES(mmap_lock_);
  Status vm_insert_page(Addr vma_addr, Addr addr, FolioId page) MMV_EXCLUDES(mmap_lock_);

  // Observation of the VMA set (takes the mmap read lock).
  std::vector<Vma> vmas() MMV_EXCLUDES(mmap_lock_);

 private:
  friend class Kernel;
  friend class Mm;
  // Drops one user; true if it was the last one (the caller tears down).
  bool put_user();
  // A fault the VMA read lock cannot handle is retried under the mmap read
  // lock: releases `vg` first (the lock order is mmap before vma).
  static void retry_releases(std::optional<VmaReadGuard>& vg);
  MmWithUser(Kernel& kernel, Addr window_lo, Addr window_hi) : Mm(kernel, window_lo, window_hi) {}
  ~MmWithUser() = default;
};

// The mmap lock held for read: VMAs may be looked up and read, faults and
// zaps may run. Released on the thread that took it, at end of scope.
class MMV_SCOPED_CAPABILITY MmapReadGuard {
 public:
  explicit MmapReadGuard(MmWithUser& mm) MMV_ACQUIRE_SHARED(mm.mmap_lock_) : mm_(mm) {
    mm_.mmap_lock_.lock_shared();
  }
  ~MmapReadGuard() MMV_RELEASE() { mm_.mmap_lock_.unlock_shared(); }
  MmapReadGuard(const MmapReadGuard&) = delete;
  MmapReadGuard& operator=(const MmapReadGuard&) = delete;

  // mmap_read_trylock: a guard if the lock was free of writers.
  static std::optional<MmapReadGuard> try_lock(MmWithUser& mm);

  // Only try_lock can make one: adopts a read lock already taken.
  class Adopt {
    friend class MmapReadGuard;
    Adopt() = default;
  };
  MmapReadGuard(MmWithUser& mm, Adopt) : mm_(mm) {}

  // The VMA with start <= addr < end, or null; any address is accepted.
  // Valid only while this guard lives.
  VmaRef* vma_lookup(Addr addr) const;
  MmWithUser& mm() const { return mm_; }

 private:
  MmWithUser& mm_;
};

// The mmap lock held for write: the VMA set may change. Every VMA write
// lock taken under it ends when it is released.
class MMV_SCOPED_CAPABILITY MmapWriteGuard {
 public:
  explicit MmapWriteGuard(MmWithUser& mm) MMV_ACQUIRE(mm.mmap_lock_) : mm_(mm) {
    mm_.mmap_lock_.lock();
  }
  ~MmapWriteGuard() MMV_RELEASE() { mm_.mmap_lock_.unlock(); }
  MmapWriteGuard(const MmapWriteGuard&) = delete;
  MmapWriteGuard& operator=(const MmapWriteGuard&) = delete;

  VmaRef* vma_lookup(Addr addr) const;

 private:
  MmWithUser& mm_;
};

}  // namespace mmv::impl
