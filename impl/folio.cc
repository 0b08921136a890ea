#include "impl/folio.h"

#include <cassert>

#include "impl/page_alloc.h"

namespace mmv::impl {

std::atomic<std::uint8_t>* Page::ensure_data() {
  auto* d = data_.load(std::memory_order_acquire);
  if (d) return d;
  auto* fresh = alloc_frame();
  if (data_.compare_exchange_strong(d, fresh, std::memory_order_acq_rel)) return fresh;
  free_frame(fresh);  // another thread published first
  return d;
}

std::uint8_t Page::load(std::uint32_t offset) const {
  const auto* d = data_.load(std::memory_order_acquire);
  return d ? d[offset].load(std::memory_order_relaxed) : 0;
}

void Page::store(std::uint32_t offset, std::uint8_t value) {
  assert(!is_zero_page());
  if (value == 0 && !data_.load(std::memory_order_acquire)) return;
  ensure_data()[offset].store(value, std::memory_order_relaxed);
}

void Page::copy_from(const Page& src) {
  const auto* s = src.data_.load(std::memory_order_acquire);
  if (!s && !data_.load(std::memory_order_acquire)) return;
  auto* d = ensure_data();
  for (std::uint32_t i = 0; i < kPageSize; ++i)
    d[i].store(s ? s[i].load(std::memory_order_relaxed) : 0, std::memory_order_relaxed);
}

PageBytes Page::bytes() const {
  PageBytes out;
  const auto* d = data_.load(std::memory_order_acquire);
  if (!d) return out;
  // Observation is slow-path code, but it runs after every step of every
  // property: only non-zero bytes go into the (sparse) result.
  for (std::uint32_t i = 0; i < kPageSize; ++i) {
    const std::uint8_t v = d[i].load(std::memory_order_relaxed);
    if (v != 0) out.set(i, v);
  }
  return out;
}

void Page::set_bytes(const PageBytes& b) {
  for (const auto& [off, v] : b.nonzero()) store(off, v);
}

Page::~Page() {
  if (auto* d = data_.load(std::memory_order_relaxed)) free_frame(d);
}

Page& Page::zero_page() {
  static Page zero;
  return zero;
}

Folio::Folio(FolioId id, FolioKind kind, unsigned order, std::uint32_t refs,
             FolioOwner* owner)
    : owner_(owner), id_(id), kind_(kind), order_(order), refcount_(refs) {
  assert(order == 0 || order == 9);
  small_.folio_ = this;
  if (order > 0) {
    large_ = std::make_unique<Page[]>(nr_pages());
    for (std::uint32_t i = 0; i < nr_pages(); ++i) {
      large_[i].folio_ = this;
      large_[i].index_ = i;
    }
  }
}

bool Folio::put() {
  if (refcount_.dec() != AtomicRefcount::Event::kHitZero) return false;
  if (owner_) owner_->folio_freed(*this);
  delete this;
  return true;
}

}  // namespace mmv::impl
