// MmTestPeer: unit tests' access to Mm and VmaRef internals, to put an mm
// into states that only a concurrent writer produces (a VMA write-locked,
// detached but still in the RCU snapshot, shrunk under a reader), so each
// of lock_vma_under_rcu's re-checks can be driven deterministically.
// Defined once here (it is a friend of Mm and VmaRef); tests only.
#pragma once

#include "impl/mm.h"

namespace mmv::impl {

class MmTestPeer {
 public:
  // REQUIRES: `mm`'s mmap write lock held by the caller (an MmapWriteGuard).
  static void vma_start_write(Mm& mm, VmaRef& v) MMV_NO_THREAD_SAFETY_ANALYSIS {
    mm.vma_start_write(v);
  }
  // Detaches v and removes it from the tree without publishing a new RCU
  // snapshot: RCU readers still find it until publish().
  // REQUIRES: the mmap write lock.
  static void detach_unpublished(Mm& mm, VmaRef& v) MMV_NO_THREAD_SAFETY_ANALYSIS {
    mm.remove_vma(&v);
  }
  // Moves v's end (after write-locking it) without publishing.
  // REQUIRES: the mmap write lock.
  static void set_end_unpublished(Mm& mm, VmaRef& v, Addr end) MMV_NO_THREAD_SAFETY_ANALYSIS {
    mm.vma_start_write(v);
    v.end_ = end;
  }
  // Republishes the snapshot from the tree (and retires what was removed).
  // REQUIRES: the mmap write lock.
  static void publish(Mm& mm) MMV_NO_THREAD_SAFETY_ANALYSIS { mm.publish_vmas(); }

  // Makes RCU lookups in `mm` find `foreign` for [start, end): a VMA of
  // another mm, as if its memory had been reused. Returns the snapshot it
  // replaced; restore() puts that back (the test snapshot is freed).
  static const VmaSnapshot* plant_foreign(Mm& mm, VmaRef& foreign) {
    auto* snap = new VmaSnapshot;
    snap->entries.push_back({foreign.start_, foreign.end_, &foreign});
    return mm.rcu_vmas_.exchange(snap, std::memory_order_acq_rel);
  }
  static void restore(Mm& mm, const VmaSnapshot* old) {
    rcu::retire_delete(mm.rcu_vmas_.exchange(old, std::memory_order_acq_rel));
  }

  static bool write_locked(Mm& mm, const VmaRef& v) {
    return v.vm_lock_seq_.load(std::memory_order_acquire) == mm.mmap_lock_.seq();
  }
  static bool detached(const VmaRef& v) { return v.detached_.load(std::memory_order_acquire); }
  static std::uint64_t mmap_seq(Mm& mm) { return mm.mmap_lock_.seq(); }
  static PageTables& page_tables(Mm& mm) { return mm.pt_; }
  // Fills `cpu`'s TLB as a fault would, but without the entry's lock or any
  // check: a translation the page table may not back (tests of
  // check_invariants).
  static void plant_tlb(Mm& mm, int cpu, Addr addr, Page* page, bool writable) {
    mm.tlbs_.fill(cpu, addr, page, writable);
  }
  // The pages `cpu`'s software TLB (impl/tlb.h) holds translations for.
  static std::vector<Addr> tlb_pages(Mm& mm, int cpu) {
    std::vector<Addr> out;
    for (const Tlbs::Held& h : mm.tlbs_.held(cpu)) out.push_back(h.vpage);
    return out;
  }
};

}  // namespace mmv::impl
