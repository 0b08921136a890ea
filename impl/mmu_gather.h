// MmuGather: the zap path's batch of pages whose mappings were cleared (the
// kernel's mmu_gather). A folio reference dropped by a zap must outlive any
// TLB entry that may still point at the page, so references are gathered,
// every CPU's TLB is flushed for the whole batch (impl/tlb.h; counted in
// Mm::tlb_flushes()), and only then are they put -- freeing folios whose
// last reference that was.
//
// Invariants:
//  1. Every gathered reference is put exactly once, by flush() or
//     flush_cleared() (the destructor flushes what is left).
//  2. tlb_flushes() of the mm rises before any gathered reference is put.
//  3. [lo_, hi_) covers every translation cleared and not yet shot down:
//     a walk covers a PTE table's part once, before it clears its entries,
//     so a flush in the middle of that part keeps the rest covered.
//
// Thread safety: one MmuGather belongs to one thread and one operation.
// add() may be called with a PTL held; flush() must not be (it may free
// folios), so callers flush between tables when full() says so.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>

#include "impl/fault_switch.h"
#include "impl/folio.h"
#include "model/addr.h"

namespace mmv::impl {

class Mm;

class MmuGather {
 public:
  // The flush puts folios whose descriptors the zap has just read, so a
  // batch's descriptors should still be in L1: 128 of them are 4 KiB
  // (impl/page_alloc.h). Each flush also costs a PTL round trip and a
  // shootdown, which is why it is not smaller: with 32 a 512-page zap took
  // 7% longer; 256 gained nothing more (figures in docs/zap-performance-log.md).
  static constexpr std::size_t kBatch = 128;

  explicit MmuGather(Mm& mm);
  // tlb_finish_mmu: flushes what is left -- and, when another gather of the
  // mm is in flight (mm_tlb_flush_nested), shoots down the covered range
  // even if this one cleared nothing: the other may have cleared entries
  // here and not flushed yet, and this operation must not return while its
  // CPU can still reach them (Linux's fix 99baac21e458, "mm: fix
  // MADV_[FREE|DONTNEED] TLB flush miss problem").
  ~MmuGather();
  MmuGather(const MmuGather&) = delete;
  MmuGather& operator=(const MmuGather&) = delete;

  // [lo, hi) is where translations are being cleared or changed: every
  // flush shoots down the union of the ranges covered so far.
  void cover(Addr lo, Addr hi) {
    lo_ = std::min(lo_, lo);
    hi_ = std::max(hi_, hi);
  }
  // Takes over one reference on f, whose mapping the caller just cleared
  // (inside a range it covered).
  void add(Folio* f) {
    // Test-only fault (impl/fault_switch.h).
    if (fault_active(Fault::kFreeBeforeFlush)) {
      cleared_ = true;
      f->put();
      return;
    }
    batch_[n_++] = f;
  }
  // The shootdown is left out of flush(): the references are put with the
  // CPUs' TLBs still holding their translations. Test-only
  // (Fault::kMunmapSkipsShootdown).
  void skip_shootdown() { skip_shootdown_ = true; }
  bool full() const { return n_ == kBatch; }
  // Room for at least n more (a PMD leaf needs 1).
  bool has_room(std::size_t n) const { return kBatch - n_ >= n; }
  // Shoots down the covered range on every CPU of the mm (impl/tlb.h), if
  // anything was cleared in it since the last flush (a gathered page, or a
  // mapping of the zero page: cleared()), then puts every gathered
  // reference.
  void flush();
  // A full batch in the middle of a walk, whose covered entries below
  // `upto` are cleared and those from `upto` on not yet: shoots down only
  // [lo, upto) -- other CPUs keep the translations still mapped, as with
  // Linux's range, which only ever holds cleared entries -- puts the
  // batch, and keeps [upto, hi) covered for the flush after the rest.
  void flush_cleared(Addr upto);
  // A translation in the covered range was cleared with no reference to
  // gather (the zero page's): the shootdown is owed all the same.
  void cleared() { cleared_ = true; }

 private:
  Mm& mm_;
  std::array<Folio*, kBatch> batch_;
  std::size_t n_ = 0;
  Addr lo_ = ~Addr{0};
  Addr hi_ = 0;
  bool cleared_ = false;
  bool skip_shootdown_ = false;
};

}  // namespace mmv::impl
