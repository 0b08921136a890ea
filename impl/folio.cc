#include "impl/folio.h"

#include <cassert>
#include <new>
#include <type_traits>

#include "impl/fault_switch.h"

namespace mmv::impl {

FrameWord* Page::ensure_data() {
  auto* d = data_.load(std::memory_order_acquire);
  if (d) return d;
  auto* fresh = alloc_frame();
  if (data_.compare_exchange_strong(d, fresh, std::memory_order_acq_rel)) return fresh;
  free_frame(fresh);  // another thread published first
  return d;
}

namespace {

// Byte `offset` of a page is byte offset % 8 of word offset / 8, counted from
// the word's low end whatever the host's byte order: the layout is private.
constexpr unsigned shift_of(std::uint32_t offset) { return 8 * (offset % 8); }

}  // namespace

std::uint8_t Page::load(std::uint32_t offset) const {
  const auto* d = data_.load(std::memory_order_acquire);
  if (!d) return 0;
  return static_cast<std::uint8_t>(d[offset / 8].load(std::memory_order_relaxed) >> shift_of(offset));
}

void Page::store(std::uint32_t offset, std::uint8_t value) {
  assert(!is_zero_page());
  if (value == 0 && !data_.load(std::memory_order_acquire)) return;
  FrameWord& w = ensure_data()[offset / 8];
  const std::uint64_t mask = std::uint64_t{0xff} << shift_of(offset);
  const std::uint64_t bits = std::uint64_t{value} << shift_of(offset);
  // A CAS, not and-then-or: two racing stores to the same byte must leave
  // one of the two values, never a mix of their bits.
  std::uint64_t old = w.load(std::memory_order_relaxed);
  while (!w.compare_exchange_weak(old, (old & ~mask) | bits, std::memory_order_relaxed)) {
  }
}

void Page::copy_from(const Page& src) {
  const auto* s = src.data_.load(std::memory_order_acquire);
  if (!s && !data_.load(std::memory_order_acquire)) return;
  auto* d = ensure_data();
  for (std::uint32_t i = 0; i < kFrameWords; ++i)
    d[i].store(s ? s[i].load(std::memory_order_relaxed) : 0, std::memory_order_relaxed);
}

PageBytes Page::bytes() const {
  PageBytes out;
  const auto* d = data_.load(std::memory_order_acquire);
  if (!d) return out;
  for (std::uint32_t i = 0; i < kFrameWords; ++i) {
    std::uint64_t w = d[i].load(std::memory_order_relaxed);
    for (std::uint32_t b = 0; w != 0; ++b, w >>= 8)
      if (const auto v = static_cast<std::uint8_t>(w)) out.set(i * 8 + b, v);
  }
  return out;
}

void Page::set_bytes(const PageBytes& b) {
  for (const auto& [off, v] : b.nonzero()) store(off, v);
}

Page& Page::zero_page() {
  static Page zero;
  return zero;
}

Folio::Folio(FolioId id, FolioKind kind, unsigned order, std::uint32_t refs,
             FolioOwner* owner)
    : kind_(static_cast<std::uint8_t>(kind)),
      order_(static_cast<std::uint8_t>(order)),
      owned_(owner != nullptr),
      refcount_(refs) {
  assert(order == 0 || order == 9);
  Page* large = order > 0 ? new Page[std::size_t{1} << order] : nullptr;
  new (folio_desc_ext(this)) Ext{owner, large, id};
  small_.folio_ = this;
  for (std::uint32_t i = 0; large && i < nr_pages(); ++i) {
    large[i].folio_ = this;
    large[i].index_ = i;
  }
}

void Folio::destroy_large() {
  // The extension is trivially destructible but for what it owns.
  static_assert(std::is_trivially_destructible_v<Ext>);
  delete[] ext().large;
}

bool Folio::put_testzero() {
  // Test-only fault (impl/fault_switch.h).
  const bool racy = fault_active(Fault::kFolioPutRacy);
  return (racy ? refcount_.racy_dec() : refcount_.dec()) == AtomicRefcount::Event::kHitZero;
}

bool Folio::put_last_anon() const {
  // Who can take a reference to an unowned anonymous folio? Only its
  // mapper, at the fault that creates it (refs 1), and a THP split, which
  // turns one reference into one per PTE under the PMD lock: nothing finds
  // an anonymous folio but through a mapping of it (no page cache, no
  // registry, no fork or get_user_pages here). So after the flush the
  // holder of the last mapping's reference that reads 1 is its only
  // holder, and nobody can become another: it frees the folio without the
  // locked decrement (the same reasoning as page_pool's
  // page_ref_count() == 1 recycling). Acquire: every earlier holder's
  // writes happen before the free.
  return kind_ == static_cast<std::uint8_t>(FolioKind::kAnon) && order_ == 0 && !owned_ &&
         refcount_.value() == 1;
}

void Folio::release() {
  if (owned_) ext().owner->folio_freed(*this);
}

bool Folio::put() {
  if (!put_testzero()) return false;
  release();
  delete this;
  return true;
}

void Folio::put_batch(Folio* const* folios, std::size_t n) {
  // Freed order-0 folios go back to the free list together, each with its
  // frame. Anything else (a THP, a folio with an owner to tell) is freed
  // alone.
  FreedFolioDescs freed;
  for (std::size_t i = 0; i < n; ++i) {
    Folio* f = folios[i];
    if (!f->put_last_anon() && !f->put_testzero()) continue;
    if (f->order_ != 0 || f->owned_) {
      f->release();
      delete f;
      continue;
    }
    // The last reference is gone: nobody else can reach data_ any more.
    // The frame goes with the descriptor, so the folio's life ends without
    // its destructor (which would free the frame): the storage is reused
    // at once by the free list, and nothing here relies on the destructor
    // running ([basic.life]/5).
    freed.add(f, f->small_.data_.load(std::memory_order_relaxed));
  }
}

}  // namespace mmv::impl
