// The zap path (SPEC.md section 5): VmaRef::zap_page_range_single and the
// leaf clearing shared with munmap and exit_mmap, plus vm_insert_page and
// the guards' lookups.
//
// zap_range walks PGD -> PUD -> PMD -> PTE, skipping empty upper entries,
// so its cost is the present pages plus the tables visited. Per PTE table
// it takes the PTL once, clears the entries, moves dirty/young to file
// folios, adjusts rss and gathers the folio references; the gather is
// flushed (TLB, then put) whenever it fills, with the PTL dropped. A THP
// leaf fully inside the range is removed whole; one cut by the range is
// split into PTEs first. No table is freed.
#include <algorithm>

#include "impl/fault_switch.h"
#include "impl/mm.h"
#include "impl/mmu_gather.h"

namespace mmv::impl {
MmuGather::MmuGather(Mm& mm) : mm_(mm) { mm_.tlb_flush_pending_.fetch_add(1, std::memory_order_acq_rel); }

MmuGather::~MmuGather() {
  // Test-only fault (impl/fault_switch.h): no forced flush.
  if (mm_.tlb_flush_pending_.load(std::memory_order_acquire) > 1 && lo_ < hi_ &&
      !fault_active(Fault::kNestedZapSkipsFlush))
    cleared_ = true;
  flush();
  mm_.tlb_flush_pending_.fetch_sub(1, std::memory_order_acq_rel);
}

void MmuGather::flush() {
  // Test-only fault (impl/fault_switch.h): kFreeBeforeFlush put the pages
  // in add(), so n_ alone does not say whether anything was cleared.
  if (n_ == 0 && !cleared_) return;
  // The shootdown: from here on no CPU can reach these pages through a
  // stale translation, so the references may go.
  // The covered range is kept: a zap may cover a table's range once and
  // flush in the middle of it.
  if (!skip_shootdown_) mm_.flush_tlb(lo_, hi_);
  cleared_ = false;
  Folio::put_batch(batch_.data(), n_);
  n_ = 0;
}

void MmuGather::flush_cleared(Addr upto) {
  if (n_ == 0 && !cleared_) return;
  if (!skip_shootdown_) mm_.flush_tlb(lo_, std::min(hi_, upto));
  // What is left to shoot down: the covered part not cleared yet.
  // Test-only fault (impl/fault_switch.h): forgotten with the batch, as
  // asm-generic/tlb.h's __tlb_reset_range forgets its range.
  if (fault_active(Fault::kBatchFlushForgetsRange)) lo_ = ~Addr{0}, hi_ = 0;
  else lo_ = std::max(lo_, upto);
  cleared_ = false;
  Folio::put_batch(batch_.data(), n_);
  n_ = 0;
}

void Mm::flush_tlb_all() {
  tlbs_.flush_all();
  tlb_flushes_.fetch_add(1, std::memory_order_relaxed);
}

void Mm::flush_tlb(Addr lo, Addr hi) {
  tlbs_.flush(lo, hi);
  tlb_flushes_.fetch_add(1, std::memory_order_relaxed);
}

void Mm::split_pmd(Addr block) {
  PmdTable* pmd = pt_.pmd_table(block);
  if (!pmd) return;
  const unsigned i = pmd_index(block);
  MutexLock g(pmd->lock());
  const Pmd e = pmd->get(i);
  if (!e.is_leaf()) return;
  PteTable* t = pmd->withdraw(i);
  Folio* f = e.folio();
  for (unsigned k = 0; k < kPagesPerPmd; ++k)
    t->set_unpublished(k, Pte::make(&f->page(k), e.writable(), e.dirty(), e.young()));
  f->refcount().add(kPagesPerPmd - 1);  // one reference per PTE now
  pmd->set(i, Pmd::table(t));           // publishes the filled table
  pt_.count_pte_table(1);
  // Test-only fault (impl/fault_switch.h).
  if (fault_active(Fault::kPmdSplitRssLeak)) rss_add(FolioKind::kAnon, 1);
}

// How far ahead zap_range prefetches descriptors. A cleared entry costs a
// few nanoseconds and a miss to L3 or memory tens: 16 entries cover it
// (8 left a 4096-page zap ~15% slower in alternating runs).
constexpr unsigned kAhead = 16;

void Mm::zap_range(Addr lo, Addr hi, MmuGather& tlb) {
  for (Addr pgd_base = pgd_down(lo); pgd_base < hi; pgd_base += kPgdSize) {
    PudTable* pud = pt_.pud_table(pgd_base);
    if (!pud) continue;
    const Addr pud_hi = std::min(pgd_base + kPgdSize, hi);
    for (Addr pud_base = std::max(pgd_base, pud_down(lo)); pud_base < pud_hi; pud_base += kPudSize) {
      PmdTable* pmd = pud->e[pud_index(pud_base)].load(std::memory_order_acquire);
      if (!pmd) continue;
      const Addr pmd_hi = std::min(pud_base + kPudSize, hi);
      for (Addr b = std::max(pud_base, pmd_down(lo)); b < pmd_hi; b += kPmdSize) {
        const unsigned pi = pmd_index(b);
        Pmd e = pmd->get(pi);
        if (e.none()) continue;
        const Addr from = std::max(lo, b), to = std::min(hi, b + kPmdSize);
        tlb.cover(from, to);
        if (e.is_leaf()) {
          if (from == b && to == b + kPmdSize) {
            Folio* f = nullptr;
            {
              MutexLock g(pmd->lock());
              e = pmd->get(pi);
              if (e.is_leaf()) {
                pmd->set(pi, Pmd());
                delete pmd->withdraw(pi);
                f = e.folio();
              }
            }
            if (f) {
              rss_add(FolioKind::kAnon, -static_cast<std::int64_t>(kPagesPerPmd));
              if (!tlb.has_room(1)) tlb.flush();
              tlb.add(f);
              continue;
            }
          } else {
            split_pmd(b);
          }
          e = pmd->get(pi);
        }
        PteTable* t = e.pte_table();
        if (!t) continue;
        unsigned i = pte_index(from);
        const unsigned end = i + static_cast<unsigned>((to - from) >> kPageShift);
        while (i < end) {
          {
            MutexLock g(t->ptl());
            std::int64_t anon = 0, file = 0;
            for (; i < end && !tlb.full(); ++i) {
              // The descriptors of a large zap are out of cache (the
              // populate's zeroing evicts them) and lie in runs, not in
              // one order a hardware prefetcher follows: ask for the one
              // kAhead entries on while this one is cleared. For write:
              // the flush writes its line when it frees the folio.
              if (i + kAhead < end) {
                if (const Pte q = t->get(i + kAhead); !q.none()) __builtin_prefetch(q.page(), 1);
              }
              const Pte p = t->clear(i);
              if (p.none()) continue;
              Page* page = p.page();
              if (page->is_zero_page()) {
                tlb.cleared();
                continue;
              }
              Folio* f = page->folio();
              if (f->kind() == FolioKind::kAnon) {
                ++anon;
              } else {
                // The data must still reach the disk, and reclaim must see
                // the use.
                if (p.dirty()) {
                  // Test-only fault (impl/fault_switch.h): the dirt is lost.
                  if (fault_active(Fault::kZapForgetsDirty)) (void)f->test_and_clear_dirty();
                  else f->set_dirty();
                }
                // Test-only fault (impl/fault_switch.h): the use is lost.
                if (p.young() && !fault_active(Fault::kZapForgetsAccessed)) f->set_accessed();
                ++file;
              }
              tlb.add(f);
            }
            if (anon) rss_add(FolioKind::kAnon, -anon);
            if (file) rss_add(FolioKind::kPageCache, -file);
          }
          // With the PTL dropped; the entries from i on are still mapped.
          if (tlb.full()) tlb.flush_cleared(b + (Addr{i} << kPageShift));
        }
        // Test-only fault (impl/fault_switch.h). Frees the table if the zap
        // left it empty; sequential runs only (no PTL holder can exist).
        if (fault_active(Fault::kZapFreesTable)) {
          MutexLock g(pmd->lock());
          bool empty = pmd->get(pi).pte_table() == t;
          for (unsigned k = 0; empty && k < kEntriesPerTable; ++k) empty = t->get(k).none();
          if (empty) {
            pmd->set(pi, Pmd());
            pt_.count_pte_table(-1);
            delete t;
          }
        }
      }
    }
  }
  // The page tables themselves stay: that is munmap's job, not zap's.
}

ZapOutcome VmaRef::zap_page_range_single(Addr address, std::uint64_t size) {
  // The Rust wrapper's checks: a silent return, which we count.
  // Test-only fault (impl/fault_switch.h): a range past end() is cut there.
  const bool cut_at_end = fault_active(Fault::kBadZapNotRejected) &&
                          address + size >= address && address >= start_ && address + size > end_;
  if (!cut_at_end &&
      (address + size < address || address < start_ || address + size > end_)) {
    mm_->zap_rejections_.fetch_add(1, std::memory_order_relaxed);
    return ZapOutcome::kRejected;
  }
  if (size == 0) return ZapOutcome::kZapped;
  const Addr lo = page_down(address);
  Addr hi = cut_at_end ? end_ : page_down(address + size - 1) + kPageSize;
  // Test-only fault (impl/fault_switch.h).
  if (fault_active(Fault::kZapRoundsEndDown)) hi = page_down(address + size);
  if (lo >= hi) return ZapOutcome::kZapped;
  MmuGather tlb(*mm_);
  mm_->zap_range(lo, hi, tlb);
  return ZapOutcome::kZapped;
}

VmaMixedMap* VmaRef::as_mixedmap_vma() {
  // Every VMA is allocated as a VmaMixedMap (invariant 4 in impl/vma.h).
  return (flags_ & flags::kMixedMap) ? static_cast<VmaMixedMap*>(this) : nullptr;
}

Status VmaMixedMap::vm_insert_page(Addr addr, Page& page) {
  if (!contains(addr)) return Errc::kFault;
  Folio* f = page.folio();
  if (!f || f->kind() == FolioKind::kAnon || f->order() != 0 || f->refcount().value() == 0)
    return Errc::kInval;
  Mm& mm = this->mm();
  if (mm.pt_.missing_tables(addr, false) > 0 && !mm.kernel_.try_alloc()) return Errc::kNoMem;
  PteTable* t = mm.pt_.ensure_pte_table(addr);
  if (!t || !t->get(pte_index(addr)).none()) return Errc::kBusy;
  // vma->vm_page_prot: writable only in a shared writable VMA; a private
  // one copies on the first write.
  const bool writable = (flags() & flags::kWrite) && (flags() & flags::kShared);
  f->refcount().inc();
  if (!mm.install_pte(*t, page_down(addr), Pte::make(&page, writable, false, false)))
    return Errc::kBusy;
  return {};
}

VmaRef* MmapReadGuard::vma_lookup(Addr addr) const {
  // The guard holds the mmap lock shared; Clang cannot tie the guard object
  // to mm_.mmap_lock_, so it is asserted here.
  mm_.mmap_lock_.assert_held_shared();
  return mm_.find_vma(addr);
}

VmaRef* MmapWriteGuard::vma_lookup(Addr addr) const {
  mm_.mmap_lock_.assert_held();
  return mm_.find_vma(addr);
}

std::optional<MmapReadGuard> MmapReadGuard::try_lock(MmWithUser& mm)
    MMV_NO_THREAD_SAFETY_ANALYSIS {
  // The lock taken here is handed to the guard inside the optional, where
  // the analysis cannot follow it.
  if (!mm.mmap_lock_.try_lock_shared()) return std::nullopt;
  return std::optional<MmapReadGuard>(std::in_place, mm, Adopt());
}

Result<ZapOutcome> MmWithUser::zap_page_range_single(Addr vma_addr, Addr address,
                                                      std::uint64_t size) {
  MmapReadGuard g(*this);
  VmaRef* v = g.vma_lookup(vma_addr);
  if (!v) return Errc::kNoVma;
  return v->zap_page_range_single(address, size);
}

Status MmWithUser::vm_insert_page(Addr vma_addr, Addr addr, FolioId page) {
  MmapReadGuard g(*this);
  VmaRef* v = g.vma_lookup(vma_addr);
  // Test-only fault (impl/fault_switch.h): any VMA is taken for a MIXEDMAP one.
  VmaMixedMap* mixed = !v ? nullptr
                       : fault_active(Fault::kInsertPageNotMixedMap) ? static_cast<VmaMixedMap*>(v)
                                                                     : v->as_mixedmap_vma();
  if (!mixed) return Errc::kNoVma;
  if (!mixed->contains(addr)) return Errc::kFault;
  Folio* f = kernel_.get_insertable_folio(page);
  if (!f) return Errc::kInval;
  Status s = mixed->vm_insert_page(addr, f->page(0));
  f->put();
  return s;
}

std::vector<Vma> MmWithUser::vmas() {
  MmapReadGuard g(*this);
  mmap_lock_.assert_held_shared();
  std::vector<Vma> out;
  for (const auto& [start, v] : vmas_)
    out.push_back(v->as_vma());
  return out;
}

}  // namespace mmv::impl
