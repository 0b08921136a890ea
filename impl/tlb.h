// Software TLBs: each simulated CPU of an mm caches a few translations
// (virtual page -> Page, and whether it may be written), as the hardware
// does, so that a stale translation -- a page freed, or write-protected,
// before every CPU's copy of its translation was shot down -- is used by a
// later access and can be seen: a read of freed or reused memory, a write
// that should have faulted. The model has no TLB; with a correct flush
// protocol nothing an operation returns changes.
//
// A CPU access first looks in its CPU's TLB (Tlbs::access); only a miss
// goes through the fault handler (VMA lock, page-table walk), which fills
// the entry. Entries are 4 KiB, direct-mapped, kEntries per CPU; a THP is
// cached page by page.
//
// Rules (the kernel's, made checkable):
//  1. An entry is filled only with the lock of the page-table entry it was
//     read from held (the PTL, or the PMD lock of a THP leaf), so a
//     translation cannot be cleared and flushed before it is cached.
//  2. An entry is writable only if the PTE was writable AND dirty: a write
//     through a TLB hit never needs to set the dirty bit (the hardware's
//     walk that sets it is the fault handler's slow path here).
//  3. Whoever clears or downgrades a PTE flushes (flush(), flush_all())
//     before it lets the page go (MmuGather: before the put) and before
//     its operation returns.
//
// Invariants:
//  - With rules 1-3, every entry maps a page that is alive and mapped (or
//    being unmapped by an operation that has not returned), with no more
//    permission than its PTE. Mm::check_invariants checks it on a quiescent
//    mm (held()).
//
// Thread safety: each CPU's TLB has its own lock (lockdep class kTlb, taken
// last). An access through a hit holds its CPU's lock for the load or store,
// and a flush takes the lock of every CPU it shoots down, so a shootdown
// waits for accesses in flight, as an IPI does.
//
// Which CPUs a flush visits (the kernel IPIs only the CPUs in mm_cpumask):
// each CPU keeps bounds, [lo, hi) of the pages it may cache, in whole PUDs
// (1 GiB), widened by fill() and recomputed from the entries by every
// flush that visits it. A flush skips,
// without its lock, a CPU whose bounds miss the range. That is safe because
// of rule 1: any fill of a translation the flusher cleared or downgraded
// held that entry's lock before the flusher changed the entry, so its
// widening happened before the flusher took that lock, and the flusher's
// read of the bounds sees it. The other half is accesses through entries
// since evicted: the flusher's lock on a CPU also orders that CPU's earlier
// accesses before the free. Bounds that no longer cover an evicted entry
// were narrowed after it was dropped (by a flush holding the CPU's lock,
// so after its accesses), and every store to the bounds is a release that
// the skipping flusher's acquire load pairs with: a skip happens after all
// the accesses the lock would have ordered. (With relaxed stores, TSan
// found a freed folio's descriptor reused while such an access was
// unordered.) A reader on another VMA then shares no cache line with a
// zap's shootdown.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "impl/atomic.h"
#include "impl/folio.h"
#include "impl/mutex.h"
#include "model/addr.h"

namespace mmv::impl {

class Tlbs {
 public:
  static constexpr int kCpus = 4;
  static constexpr std::size_t kEntries = 32;  // one bit each in Cpu::valid

  // A load (write = false) or a store of `value` at addr by `cpu` (taken
  // modulo kCpus), if its TLB maps the page (writably, for a store): the
  // byte loaded, or `value` stored. Empty on a miss.
  std::optional<std::uint8_t> access(int cpu, Addr addr, bool write, std::uint8_t value);
  // Caches addr's page -> page for `cpu`. REQUIRES: the lock of the
  // page-table entry this translation was read from (rule 1).
  void fill(int cpu, Addr addr, Page* page, bool writable);
  // Shootdown: every CPU's entries for pages in [lo, hi), or all.
  void flush(Addr lo, Addr hi);
  void flush_all();
  // The translations `cpu` holds, in slot order (takes its lock): what
  // Mm::check_invariants holds to the page table, and tests and the
  // properties' reach table look at.
  struct Held {
    Addr vpage;
    const Page* page;
    bool writable;
  };
  std::vector<Held> held(int cpu);

 private:
  struct Entry {
    Addr vpage = kNoPage;
    Page* page = nullptr;
    bool writable = false;
  };
  static constexpr Addr kNoPage = ~Addr{0};
  // A cache line (or more) of its own: CPUs do not share lines.
  struct alignas(64) Cpu {
    Mutex lock{lockdep::LockClass::kTlb};
    std::array<Entry, kEntries> e MMV_GUARDED_BY(lock);
    // Bit i set: e[i] holds a translation. A flush or a rebound visits only
    // these, so a CPU whose entries a zap just cleared costs it no scan.
    std::uint32_t valid MMV_GUARDED_BY(lock) = 0;
    static_assert(kEntries <= 32);
    // The bounds (see the header comment): changed under `lock`, read
    // without it by flushes.
    Atomic<Addr> lo{kNoPage};
    Atomic<Addr> hi{0};
  };
  // Recomputes c's bounds from its entries.
  static void rebound(Cpu& c) MMV_REQUIRES(c.lock);
  static std::size_t slot(Addr vpage) { return (vpage >> kPageShift) % kEntries; }
  Cpu& cpu(int c) { return cpus_[static_cast<unsigned>(c) % kCpus]; }

  std::array<Cpu, kCpus> cpus_;
};

}  // namespace mmv::impl
