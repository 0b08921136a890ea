// MmuGather: the zap path's batch of pages whose mappings were cleared (the
// kernel's mmu_gather). A folio reference dropped by a zap must outlive any
// TLB entry that may still point at the page, so references are gathered,
// the TLB is "flushed" for the whole batch (counted in Mm::tlb_flushes()),
// and only then are they put -- freeing folios whose last reference that
// was.
//
// Invariants:
//  1. Every gathered reference is put exactly once, by flush() (the
//     destructor flushes what is left).
//  2. tlb_flushes() of the mm rises before any gathered reference is put.
//
// Thread safety: one MmuGather belongs to one thread and one operation.
// add() may be called with a PTL held; flush() must not be (it may free
// folios), so callers flush between tables when full() says so.
#pragma once

#include <array>
#include <cstddef>

#include "impl/fault_switch.h"
#include "impl/folio.h"

namespace mmv::impl {

class Mm;

class MmuGather {
 public:
  static constexpr std::size_t kBatch = 512;

  explicit MmuGather(Mm& mm) : mm_(mm) {}
  ~MmuGather() { flush(); }
  MmuGather(const MmuGather&) = delete;
  MmuGather& operator=(const MmuGather&) = delete;

  // Takes over one reference on f, whose mapping the caller just cleared.
  void add(Folio* f) {
    // Test-only fault (impl/fault_switch.h).
    if (fault_active(Fault::kFreeBeforeFlush)) {
      f->put();
      return;
    }
    batch_[n_++] = f;
  }
  bool full() const { return n_ == kBatch; }
  // Room for at least n more (a PMD leaf needs 1, a PTE table up to 512).
  bool has_room(std::size_t n) const { return kBatch - n_ >= n; }
  // Flushes the TLB for the batch, then puts every gathered reference.
  void flush();

 private:
  Mm& mm_;
  std::array<Folio*, kBatch> batch_;
  std::size_t n_ = 0;
};

}  // namespace mmv::impl
