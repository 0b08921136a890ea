// Folio and Page: physical memory. A Folio is 1 page (order 0) or 512 pages
// (order 9, a THP); each Page knows its folio and its index in it, and holds
// its 4 KiB of data, allocated on the first store (a page never written reads
// as zeros). Page-table entries point at Pages (impl/page_table.h).
//
// Thread safety:
//  - refcount, pins, dirty and accessed are atomics, changed by anyone who
//    holds a reference (or a lock that keeps one alive).
//  - Page data is relaxed atomics: CPU loads and stores through different
//    mappings may race, as on real hardware, and TSan must not call that a
//    bug. It is held as 64-bit words, not bytes: a byte store is a CAS on
//    its word (a store is rare), and observing a page (after every step of
//    every property) reads 512 words and skips the zero ones instead of
//    loading 4096 bytes.
//  - kind, order and id never change after construction; file and index
//    are set once, by the page cache under its lock, before anyone else
//    can find the folio.
//
// Invariants (checked by Mm::check_invariants through the observation):
//  1. refcount == mappings (present PTEs, or the one PMD, mapping it)
//                 + 1 if kind == kPageCache (the cache's reference)
//                 + pins (caller references: Kernel::alloc_page's).
//  2. a folio is deleted by whoever drops its refcount to 0, never before
//     the TLB flush that follows clearing its last mapping (impl/mmu_gather.h).
//  3. dirty and accessed stay false for kAnon folios.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "impl/page_alloc.h"
#include "impl/refcount.h"
#include "impl/sched_hooks.h"
#include "model/folio.h"
#include "model/page_bytes.h"

namespace mmv::impl {

class Folio;

// Told when a folio it owns is freed (Kernel keeps a registry of live
// driver pages this way).
class FolioOwner {
 public:
  virtual void folio_freed(Folio& f) = 0;

 protected:
  ~FolioOwner() = default;
};

class alignas(8) Page {
 public:
  Page() = default;
  Page(const Page&) = delete;
  Page& operator=(const Page&) = delete;
  // Inline: a gather's flush destroys pages it has already emptied.
  ~Page() {
    if (auto* d = data_.load(std::memory_order_relaxed)) free_frame(d);
  }

  Folio* folio() const { return folio_; }  // null for the zero page
  std::uint32_t index() const { return index_; }
  bool is_zero_page() const { return folio_ == nullptr; }

  std::uint8_t load(std::uint32_t offset) const;
  // Not for the zero page (it is never mapped writable).
  void store(std::uint32_t offset, std::uint8_t value);
  void copy_from(const Page& src);
  PageBytes bytes() const;
  void set_bytes(const PageBytes& b);

  // The shared zero page: always zero, mapped read-only, not a counted folio.
  static Page& zero_page();

 private:
  friend class Folio;
  FrameWord* ensure_data();

  Folio* folio_ = nullptr;
  std::uint32_t index_ = 0;
  std::atomic<FrameWord*> data_{nullptr};
};

class alignas(kFolioDescAlign) Folio {
 public:
  // refcount starts at `refs`. order is 0 or 9.
  Folio(FolioId id, FolioKind kind, unsigned order, std::uint32_t refs,
        FolioOwner* owner = nullptr);
  Folio(const Folio&) = delete;
  Folio& operator=(const Folio&) = delete;
  // Inline, so that a gather's flush of order-0 folios compiles to nothing
  // here (the frame is already taken out).
  ~Folio() {
    if (order_ != 0) destroy_large();
  }

  // Descriptors live in the page allocator's memmap (impl/page_alloc.h),
  // not on the heap. A Folio exists only through these (new Folio, as
  // Kernel::new_folio does): ext() finds the extension from the
  // descriptor's address, so a Folio on the stack or inside another object
  // would write its extension to a wild address.
  // (Both forms: which one a new-expression uses depends on whether
  // kFolioDescAlign is above the default new alignment.)
  static void* operator new(std::size_t) { return alloc_folio_desc(); }
  static void* operator new(std::size_t, std::align_val_t) { return alloc_folio_desc(); }
  static void operator delete(void* desc) { free_folio_desc(desc); }
  static void operator delete(void* desc, std::align_val_t) { free_folio_desc(desc); }

  FolioId id() const { return ext().id; }
  FolioKind kind() const { return static_cast<FolioKind>(kind_); }
  unsigned order() const { return order_; }
  std::uint32_t nr_pages() const { return 1u << order_; }
  Page& page(std::uint32_t i) { return order_ == 0 ? small_ : ext().large[i]; }
  const Page& page(std::uint32_t i) const { return order_ == 0 ? small_ : ext().large[i]; }

  AtomicRefcount& refcount() { return refcount_; }
  const AtomicRefcount& refcount() const { return refcount_; }
  std::atomic<std::uint32_t>& pins() { return ext().pins; }
  std::uint32_t pins() const { return ext().pins.load(std::memory_order_acquire); }
  bool dirty() const { return dirty_.load(std::memory_order_acquire); }
  // Flag updates race (a fault dirties, writeback cleans): scheduling
  // points under the controlled scheduler.
  void set_dirty() {
    sched_point("folio set dirty");
    dirty_.store(true, std::memory_order_release);
  }
  bool test_and_clear_dirty() {
    sched_point("folio test and clear dirty");
    return dirty_.exchange(false, std::memory_order_acq_rel);
  }
  bool accessed() const { return ext().accessed.load(std::memory_order_acquire); }
  void set_accessed() { ext().accessed.store(true, std::memory_order_release); }

  // Page-cache folios only.
  FileId file() const { return ext().file; }
  std::uint64_t index() const { return ext().index; }
  void set_cache_slot(FileId f, std::uint64_t index) {
    ext().file = f;
    ext().index = index;
  }

  // Drops one reference; deletes the folio on the last. Returns whether it
  // did. The caller must have flushed the TLB of every mapping it removed.
  bool put();
  // put() for n folios at once (folios_put: a gather's flush): each loses
  // one reference, and those that lost their last are freed together, their
  // frames and descriptors handed back in bulk.
  static void put_batch(Folio* const* folios, std::size_t n);

 private:
  // What only file, THP and driver folios use (the kernel's page_ext): in
  // the descriptor's extension (impl/page_alloc.h), off the zap's lines.
  struct Ext {
    FolioOwner* owner;
    Page* large;  // order 9: nr_pages() Pages, owned
    FolioId id;
    std::uint64_t index = 0;
    FileId file = 0;
    std::atomic<std::uint32_t> pins{0};
    std::atomic<bool> accessed{false};
  };
  static_assert(sizeof(Ext) <= kFolioExtSize && alignof(Ext) <= kFolioDescAlign);
  Ext& ext() const { return *static_cast<Ext*>(folio_desc_ext(this)); }

  // Drops one reference: true if it was the last (the caller frees).
  bool put_testzero();
  // True if the caller's reference is the only one and nobody can take
  // another: an unowned order-0 anonymous folio at refcount 1 (folio.cc
  // says why). The count is left as it is; the caller frees the folio.
  bool put_last_anon() const;
  // Tells the owner, if any; the folio is then destroyed by the caller.
  void release();
  // ~Folio of an order-9 folio: its Pages go.
  void destroy_large();

  // Everything an anonymous page's fault, zap and free touch, in one
  // 32-byte descriptor (two to a cache line).
  Page small_;  // order 0
  const std::uint8_t kind_;  // a FolioKind
  const std::uint8_t order_;
  const bool owned_;  // ext().owner is set: read here, so a free of an
                      // unowned order-0 folio stays off the extension
  std::atomic<bool> dirty_{false};
  AtomicRefcount refcount_;
};

static_assert(sizeof(Folio) == kFolioDescSize);

}  // namespace mmv::impl
