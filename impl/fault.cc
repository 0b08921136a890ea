// MmWithUser: CPU accesses and page faults (SPEC.md section 4), rule for
// rule as model/fault.cc. A fault runs under the VMA's read lock (or the
// mmap read lock), takes the allocation gate at exactly the model's points,
// allocates what it needs, and installs entries under the PMD lock or the
// PTE table lock, re-checking there that the slot is still empty: a
// concurrent fault may have got there first, in which case the access is
// simply retried, as the CPU would.
#include <algorithm>

#include "impl/fault_switch.h"
#include "impl/mm.h"
#include "impl/mmu_gather.h"
#include "impl/sched_hooks.h"

namespace mmv::impl {
namespace {

bool thp_eligible(const VmaRef& v, Addr addr) {
  const Addr block = pmd_down(addr);
  return v.backing().kind == BackingKind::kAnon && !(v.flags() & flags::kShared) &&
         (v.flags() & flags::kHugePage) && !(v.flags() & flags::kNoHugePage) &&
         block >= v.start() && block + kPmdSize <= v.end();
}

std::uint64_t file_index(const VmaRef& v, Addr a) {
  return v.backing().pgoff + ((a - v.start()) >> kPageShift);
}

std::uint32_t page_offset(Addr a) { return static_cast<std::uint32_t>(a & (kPageSize - 1)); }

}  // namespace

// The read lock taken here is handed to the returned guard, inside an
// optional, where the analysis cannot follow it.
std::optional<VmaReadGuard> MmWithUser::lock_vma_under_rcu(Addr addr)
    MMV_NO_THREAD_SAFETY_ANALYSIS {
  rcu::ReadGuard rcu;
  const VmaSnapshot* snap = rcu_vmas_.load(std::memory_order_acquire);
  // rcu_dereference: a writer may publish a new snapshot (and retire this
  // one) from here on; only the grace period keeps this one alive.
  sched_point("VMA snapshot loaded");
  VmaRef* v = snap->find(addr);
  if (!v) return std::nullopt;
  // Test-only fault (impl/fault_switch.h).
  const bool no_recheck = fault_active(Fault::kNoRangeRecheck);
  // vma_start_read: a write-locked VMA (vm_lock_seq == mm_lock_seq) is
  // left alone; the check is repeated once the read lock is held, because
  // a writer may have marked it in between.
  if (v->vm_lock_seq_.load(std::memory_order_acquire) == mmap_lock_.seq()) return std::nullopt;
  if (!v->lock_.try_lock_shared()) return std::nullopt;
  // The acquire load of the mmap sequence number orders the field reads
  // below after everything the last writer did before it unlocked.
  const bool write_locked = v->vm_lock_seq_.load(std::memory_order_acquire) == mmap_lock_.seq();
  // Then the post-lock re-checks: the VMA may have been removed (it stays
  // allocated until the grace period this section holds up), may belong to
  // another mm, or may have shrunk away from addr.
  if (write_locked || v->detached_.load(std::memory_order_acquire) || v->mm_ != this ||
      (!no_recheck && !v->contains(addr))) {
    v->lock_.unlock_shared();
    return std::nullopt;
  }
  return VmaReadGuard(v);
}

// Both accesses fault as Linux 6.4's handler did: under the VMA read lock
// for an anonymous VMA that has its anon_vma; for a file or driver VMA, an
// anonymous one still without an anon_vma (vmf_anon_prepare: choosing one
// reads the neighbours, which only the mmap lock keeps still), or when no
// VMA could be locked, the fault is retried under the mmap read lock, with
// the VMA lock released first (lock order: mmap before vma).
Result<std::uint8_t> MmWithUser::read(Addr addr, int cpu) {
  // A TLB hit is the hardware's: no lock, no walk, no VMA check.
  if (const std::optional<std::uint8_t> hit = tlbs_.access(cpu, addr, /*write=*/false, 0)) return *hit;
  std::optional<VmaReadGuard> vg = lock_vma_under_rcu(addr);
  if (vg && vg->vma().backing().kind == BackingKind::kAnon && vg->vma().anon_vma() != 0) {
    if (!(vg->vma().flags() & flags::kAccessMask)) return Errc::kSegv;
    return access(vg->vma(), addr, Touch::kLoad, 0, cpu);
  }
  retry_releases(vg);
  MmapReadGuard g(*this);
  VmaRef* v = g.vma_lookup(addr);
  if (!v || !(v->flags() & flags::kAccessMask)) return Errc::kSegv;
  return access(*v, addr, Touch::kLoad, 0, cpu);
}

Status MmWithUser::write(Addr addr, std::uint8_t value, int cpu) {
  if (tlbs_.access(cpu, addr, /*write=*/true, value)) return {};
  Result<std::uint8_t> r = Errc::kSegv;
  std::optional<VmaReadGuard> vg = lock_vma_under_rcu(addr);
  if (vg && vg->vma().backing().kind == BackingKind::kAnon && vg->vma().anon_vma() != 0) {
    if (!(vg->vma().flags() & flags::kWrite)) return Errc::kSegv;
    r = access(vg->vma(), addr, Touch::kStore, value, cpu);
  } else {
    retry_releases(vg);
    // Test-only fault (impl/fault_switch.h): the guard's scope ends before
    // the access, which uses the VmaRef it gave after the mmap read lock
    // is gone.
    const bool after_unlock = fault_active(Fault::kVmaRefAfterUnlock);
    VmaRef* v = nullptr;
    {
      MmapReadGuard g(*this);
      v = g.vma_lookup(addr);
      if (!v || !(v->flags() & flags::kWrite)) return Errc::kSegv;
      if (!after_unlock) r = access(*v, addr, Touch::kStore, value, cpu);
    }
    if (after_unlock) r = access(*v, addr, Touch::kStore, value, cpu);
  }
  if (!r.ok()) return r.error();
  return {};
}

Status MmWithUser::populate(Addr addr, std::uint64_t len) {
  if (!page_aligned(addr)) return Errc::kInval;
  std::uint64_t rounded = 0;
  if (!page_round_up(len, &rounded) || addr + rounded < addr) return Errc::kInval;
  const Addr end = addr + rounded;
  MmapReadGuard g(*this);
  VmaRef* v = nullptr;
  Addr a = addr;
  while (a < end) {
    // The VMA's flags are checked once per VMA, as __get_user_pages does.
    if (!v || a >= v->end()) {
      v = g.vma_lookup(a);
      if (!v) return Errc::kNoMem;
      if ((v->flags() & (flags::kIo | flags::kPfnMap)) || !(v->flags() & flags::kWrite)) return Errc::kInval;
    }
    if (const Result<std::uint8_t> r = access(*v, a, Touch::kPopulate, 0, 0); !r.ok())
      return r.error() == Errc::kNoMem ? Errc::kNoMem : Errc::kFault;
    // A THP leaf was handled whole: go on after it.
    a = pt_.pmd(a).is_leaf() ? std::min(end, pmd_down(a) + kPmdSize) : a + kPageSize;
  }
  return {};
}

void MmWithUser::retry_releases(std::optional<VmaReadGuard>& vg) {
  // Test-only fault (impl/fault_switch.h): the VMA stays read-locked while
  // the mmap lock is taken -- an inversion that deadlocks against a writer
  // holding the mmap lock and waiting for this VMA (vma_start_write).
  if (!fault_active(Fault::kRetryKeepsVmaLock)) vg.reset();
}

Result<std::uint8_t> Mm::access(VmaRef& v, Addr addr, Touch how, std::uint8_t value, int cpu) {
  const bool write = how != Touch::kLoad;
  bool faulted = false;
  for (;;) {
    bool present_read_only = false;
    const Pmd e = pt_.pmd(addr);
    if (e.is_leaf()) {
      PmdTable* pmd = pt_.pmd_table(addr);
      MutexLock g(pmd->lock());
      const Pmd cur = pmd->get(pmd_index(addr));
      if (!cur.is_leaf()) continue;  // split or zapped meanwhile
      if (write && !cur.writable()) {
        // An anonymous THP in a writable VMA: reuse it (model fault_present).
        pmd->set(pmd_index(addr), cur.with(Pmd::kWritable));
        continue;
      }
      // What the MMU sets; for a populate, touch_pmd sets the same.
      pmd->set(pmd_index(addr), cur.with(Pmd::kYoung | (write ? Pmd::kDirty : 0)));
      if (how == Touch::kPopulate) return 0;  // GUP walks in software: no TLB fill
      Page& page = cur.folio()->page(pte_index(addr));
      // Writable in the TLB only if dirty already (impl/tlb.h, rule 2).
      tlbs_.fill(cpu, addr, &page, cur.writable() && (write || cur.dirty()));
      if (!write) return page.load(page_offset(addr));
      page.store(page_offset(addr), value);
      return value;
    }
    if (PteTable* t = e.pte_table()) {
      MutexLock g(t->ptl());
      const Pte p = t->get(pte_index(addr));
      if (!p.none()) {
        if (!write || p.writable()) {
          // A populate leaves an entry that needed no fault as it is, and
          // one it faulted as the fault handler left it: young and dirty.
          if (how != Touch::kPopulate || faulted)
            t->set(pte_index(addr), p.with(Pte::kYoung | (write ? Pte::kDirty : 0)));
          if (how == Touch::kPopulate) return 0;
          tlbs_.fill(cpu, addr, p.page(), p.writable() && (write || p.dirty()));
          if (!write) return p.page()->load(page_offset(addr));
          p.page()->store(page_offset(addr), value);
          return value;
        }
        present_read_only = true;
      }
    }
    Status s = present_read_only ? fault_present(v, addr) : fault_missing(v, addr, write);
    if (!s.ok()) return s.error();
    faulted = true;
  }
}

bool Mm::install_pte(PteTable& t, Addr addr, Pte pte) {
  Page* page = pte.page();
  {
    MutexLock g(t.ptl());
    if (t.get(pte_index(addr)).none()) {
      t.set(pte_index(addr), pte);
      if (!page->is_zero_page()) rss_add(page->folio()->kind(), 1);
      return true;
    }
  }
  // Someone mapped it first: drop the reference brought for this entry.
  if (!page->is_zero_page()) page->folio()->put();
  return false;
}

// Neighbours are read under the mmap read lock, which every fault that can
// get here without an anon_vma holds (MmWithUser::read and write leave the
// VMA-lock path for it, as vmf_anon_prepare does); the analysis cannot see
// that the lock held depends on the VMA's state.
void Mm::ensure_anon_vma(VmaRef& v) MMV_NO_THREAD_SAFETY_ANALYSIS {
  if (v.anon_vma() != 0) return;
  mmap_lock_.assert_held_shared();
  // __anon_vma_prepare: the next area's anon_vma, or the previous one's,
  // where find_mergeable_anon_vma takes it (model::System::ensure_anon_vma).
  std::uint64_t shared = 0;
  const Vma self = v.as_vma();
  auto it = vmas_.find(v.start());
  if (auto next = std::next(it); next != vmas_.end()) {
    const Vma n = next->second->as_vma();
    if (n.anon_vma != 0 && anon_vma_compatible(self, n)) shared = n.anon_vma;
  }
  if (shared == 0 && it != vmas_.begin()) {
    const Vma p = std::prev(it)->second->as_vma();
    if (p.anon_vma != 0 && anon_vma_compatible(p, self)) shared = p.anon_vma;
  }
  MutexLock g(anon_vma_lock_);
  if (v.anon_vma() != 0) return;
  v.anon_vma_.store(shared != 0 ? shared : next_anon_vma_++, std::memory_order_release);
}

Status Mm::fault_missing(VmaRef& v, Addr addr, bool write) {
  const bool vma_writable = (v.flags() & flags::kWrite) != 0;
  switch (v.backing().kind) {
    case BackingKind::kDriver:
      return Errc::kBus;  // a driver VMA without a ->fault handler

    case BackingKind::kAnon: {
      if (thp_eligible(v, addr) && pt_.pmd(addr).none()) {
        if (pt_.missing_tables(addr, /*leaf=*/true) > 0 && !kernel_.try_alloc())
          return Errc::kNoMem;
        PmdTable* pmd = pt_.ensure_pmd_table(addr);
        if (kernel_.try_alloc()) {
          Folio* f = kernel_.new_folio(FolioKind::kAnon, 9, 1);
          ensure_anon_vma(v);
          auto* deposit = new PteTable;
          bool installed = false;
          {
            MutexLock g(pmd->lock());
            if (pmd->get(pmd_index(addr)).none()) {
              pmd->set(pmd_index(addr), Pmd::leaf(f, vma_writable, true, true));
              pmd->deposit(pmd_index(addr), deposit);
              installed = true;
            }
          }
          if (installed) {
            rss_add(FolioKind::kAnon, kPagesPerPmd);
          } else {
            delete deposit;
            f->put();
          }
          return {};
        }
        // No THP to be had: fall back to a small page, like the kernel.
      }
      const bool needs_alloc = pt_.missing_tables(addr, false) > 0 || write;
      if (needs_alloc && !kernel_.try_alloc()) return Errc::kNoMem;
      PteTable* t = pt_.ensure_pte_table(addr);
      if (!t) return {};  // a THP arrived meanwhile: retry the access
      if (!write) {
        install_pte(*t, addr, Pte::make(&Page::zero_page(), false, false, true));
        return {};
      }
      Folio* f = kernel_.new_folio(FolioKind::kAnon, 0, 1);
      ensure_anon_vma(v);
      install_pte(*t, addr, Pte::make(&f->page(0), true, true, true));
      return {};
    }

    case BackingKind::kFile: {
      const std::uint64_t index = file_index(v, addr);
      File& file = *kernel_.file(v.backing().file);
      if (pt_.missing_tables(addr, false) > 0 && !kernel_.try_alloc()) return Errc::kNoMem;
      // do_read_fault maps the cached neighbours before it looks at the
      // faulting page, so what it maps stays even if the fault then fails.
      if (!write) {
        fault_around(v, file, addr);
        if (!pt_.pte(addr).none()) return {};
      }
      const bool cow = write && !(v.flags() & flags::kShared);
      // do_cow_fault: the anon_vma first, even for a store that then takes
      // SIGBUS beyond the end of the file (model::System::fault_missing).
      if (index >= file.size_pages()) {
        if (cow) ensure_anon_vma(v);
        return Errc::kBus;
      }
      if ((!file.find_folio(index) || cow) && !kernel_.try_alloc()) return Errc::kNoMem;
      PteTable* t = pt_.ensure_pte_table(addr);
      Folio* cached = file.find_or_read_folio(index);
      if (cow) {
        Folio* f = kernel_.new_folio(FolioKind::kAnon, 0, 1);
        f->page(0).copy_from(cached->page(0));
        ensure_anon_vma(v);
        install_pte(*t, addr, Pte::make(&f->page(0), true, true, true));
      } else if (write) {
        cached->refcount().inc();
        // Write-notify: the folio is dirty from the moment it is writable.
        if (install_pte(*t, addr, Pte::make(&cached->page(0), true, true, true)))
          cached->set_dirty();
      } else {
        cached->refcount().inc();
        install_pte(*t, addr, Pte::make(&cached->page(0), false, false, true));
      }
      return {};
    }
  }
  return Errc::kInval;
}

void Mm::fault_around(VmaRef& v, File& file, Addr addr) {
  constexpr std::uint64_t kWindow = 16;  // fault_around_bytes / PAGE_SIZE
  const std::uint64_t pte_off = pte_index(addr);
  const std::uint64_t vma_off = (addr - v.start()) >> kPageShift;
  const std::uint64_t vma_pages = (v.end() - v.start()) >> kPageShift;
  const std::uint64_t from =
      std::max(pte_off / kWindow * kWindow, pte_off - std::min(pte_off, vma_off));
  const std::uint64_t to = std::min(
      {from + kWindow, std::uint64_t{kEntriesPerTable}, pte_off + vma_pages - vma_off});
  const Addr table = pmd_down(addr);
  auto at = [&](std::uint64_t i) { return table + (i << kPageShift); };
  // Linux 6.18's filemap_map_pages (see model/fault.cc for the whole
  // story): clamped to end of file; and when the window's first cached page
  // is the file's last one, its preallocated PTE table is not installed, so
  // without a table already there nothing is mapped.
  std::uint64_t end = from;
  while (end < to && file_index(v, at(end)) < file.size_pages()) ++end;
  std::uint64_t first = from;
  while (first < end && !file.find_folio(file_index(v, at(first)))) ++first;
  if (first == end) return;
  if (file_index(v, at(first)) + 1 == file.size_pages() && !pt_.pte_table(table)) return;
  for (std::uint64_t i = from; i < end; ++i) {
    const Addr a = at(i);
    if (!pt_.pte(a).none()) continue;
    Folio* f = file.find_folio(file_index(v, a));
    if (!f) continue;
    PteTable* t = pt_.ensure_pte_table(a);
    f->refcount().inc();
    // The faulting page is accessed now; the others were only prefaulted.
    install_pte(*t, a, Pte::make(&f->page(0), false, false, a == page_down(addr)));
  }
}

Status Mm::fault_present(VmaRef& v, Addr addr) {
  PteTable* t = pt_.pte_table(addr);
  if (!t) return {};  // changed meanwhile (a THP is handled in access): retry
  const unsigned i = pte_index(addr);
  Pte before;
  {
    MutexLock g(t->ptl());
    before = t->get(i);
    if (before.none() || before.writable()) return {};
    Page* page = before.page();
    const bool anon = !page->is_zero_page() && page->folio()->kind() == FolioKind::kAnon;
    if (anon || ((v.flags() & flags::kShared) && !page->is_zero_page())) {
      t->set(i, before.with(Pte::kWritable));
      if (page->folio()->kind() == FolioKind::kPageCache) page->folio()->set_dirty();
      return {};
    }
  }
  // Copy-on-write: the zero page, or a file/driver page in a private VMA.
  if (!kernel_.try_alloc()) return Errc::kNoMem;
  Folio* copy = kernel_.new_folio(FolioKind::kAnon, 0, 1);
  ensure_anon_vma(v);
  MmuGather tlb(*this);
  MutexLock g(t->ptl());
  const Pte now = t->get(i);
  if (now.page() != before.page() || now.writable()) {
    copy->put();  // someone else resolved it: retry the access
    return {};
  }
  Page* old = now.page();
  if (!old->is_zero_page()) copy->page(0).copy_from(*old);
  t->set(i, Pte::make(&copy->page(0), true, true, true));
  // Other CPUs may still map the old page (the zero page too).
  tlb.cover(page_down(addr), page_down(addr) + kPageSize);
  tlb.cleared();
  rss_add(FolioKind::kAnon, 1);
  if (!old->is_zero_page()) {
    rss_add(old->folio()->kind(), -1);
    tlb.add(old->folio());  // put after the flush, once the PTL is dropped
  }
  return {};
}

}  // namespace mmv::impl
