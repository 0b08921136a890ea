// The page allocator: 4 KiB data frames for Pages and the Folio descriptors
// themselves (impl/folio.h), both recycled through free lists instead of
// going back to malloc, as the kernel keeps freed pages on per-CPU lists
// and their struct pages in the memmap.
//
// Why: freeing a large zap's frames and descriptors through malloc costs
// more than the zap itself (glibc consolidates and trims its heap inside
// free()), and descriptors scattered over the heap cost a cache miss per
// page of a large zap. Descriptors are carved from large chunks, a thread's
// in the order it allocates them, and recycled last-in first-out: the
// folios a fault loop maps lie near each other, and the zap that clears
// them walks their descriptors in runs (it prefetches them: impl/zap.cc).
// Free descriptors are linked through their own storage, so freeing one
// writes only its own line (page_alloc.cc says why that matters).
//
// Thread safety: each thread frees to and allocates from its own caches;
// a cache overflows to, and refills from, one shared list per kind under a
// mutex (not a lockdep class: a leaf taken with no other lock of this pool
// held). What a thread has cached when it exits goes to the shared list.
// Descriptor chunks are never returned (the memmap is permanent).
//
// Under AddressSanitizer both are plain operator new/delete, so a use after
// free of page data or of a folio is still reported.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "impl/sanitizers.h"
#include "model/addr.h"

namespace mmv::impl {

// A frame is 4 KiB held as 512 atomic 64-bit words (impl/folio.h says why
// words and not bytes).
using FrameWord = std::atomic<std::uint64_t>;
inline constexpr std::uint32_t kFrameWords = kPageSize / sizeof(std::uint64_t);

// A zero-filled frame.
FrameWord* alloc_frame();
void free_frame(FrameWord* frame);

// Raw storage for one Folio, in two parts, as the kernel splits struct page
// from page_ext: the descriptor proper (kFolioDescSize bytes, aligned to it,
// what a zap or a fault touches) and its extension (kFolioExtSize bytes:
// what only file, THP and driver folios use), found from the descriptor's
// address by folio_desc_ext. Descriptors lie next to each other, two to a
// cache line; a zap of n pages reads n/2 lines of them, not n.
inline constexpr std::size_t kFolioDescSize = 32;
inline constexpr std::size_t kFolioExtSize = 48;
inline constexpr std::size_t kFolioDescAlign = kFolioDescSize;
void* alloc_folio_desc();
void free_folio_desc(void* desc);

// A free descriptor's storage while it waits on a free list: the link, and
// the frame its folio had (null: none), which stays with it until the
// descriptor is allocated again and then goes back to the frames.
struct FreeFolioDesc {
  FreeFolioDesc* next;
  FrameWord* frame;
};
static_assert(sizeof(FreeFolioDesc) <= kFolioDescSize);

// What a gather's flush frees: order-0 folios' descriptors, each with its
// frame, linked through their own storage as they come (each add writes
// only the line of a descriptor the flush has just read) and handed to
// this thread's free list in one splice when the builder goes.
//
// Thread safety: one builder belongs to one thread.
class FreedFolioDescs {
 public:
  FreedFolioDescs() = default;
  FreedFolioDescs(const FreedFolioDescs&) = delete;
  FreedFolioDescs& operator=(const FreedFolioDescs&) = delete;
  ~FreedFolioDescs() { splice(); }

  // desc: the storage of an order-0 folio whose life has ended; frame: the
  // frame it held, or null.
  void add(void* desc, FrameWord* frame) {
#if MMV_ASAN
    delete[] frame;
    ::operator delete(desc, std::align_val_t{kFolioDescAlign});
#else
    head_ = new (desc) FreeFolioDesc{head_, frame};
    if (!tail_) tail_ = head_;
    ++n_;
#endif
  }

 private:
  // Hands the chain to this thread's free list (page_alloc.cc).
  void splice();

#if !MMV_ASAN  // under ASan add() frees at once
  FreeFolioDesc* head_ = nullptr;
  FreeFolioDesc* tail_ = nullptr;
  std::size_t n_ = 0;
#endif
};

// A chunk of the memmap: kFolioDescsPerChunk descriptors, then as many
// extensions, in one naturally aligned 2 MiB block, so a descriptor's
// extension is found by arithmetic on its address. Under ASan each
// descriptor is its own allocation, with its extension right after it.
inline constexpr std::size_t kFolioChunkBytes = std::size_t{2} << 20;
inline constexpr std::size_t kFolioDescsPerChunk = kFolioChunkBytes / (kFolioDescSize + kFolioExtSize);

// The extension of the descriptor at desc. REQUIRES: desc came from
// alloc_folio_desc (any other address gives a wild pointer).
inline void* folio_desc_ext(const void* desc) {
  const auto a = reinterpret_cast<std::uintptr_t>(desc);
#if MMV_ASAN
  return reinterpret_cast<void*>(a + kFolioDescSize);
#else
  const std::uintptr_t base = a & ~std::uintptr_t{kFolioChunkBytes - 1};
  const std::uintptr_t i = (a - base) / kFolioDescSize;
  return reinterpret_cast<void*>(base + kFolioDescsPerChunk * kFolioDescSize + i * kFolioExtSize);
#endif
}

}  // namespace mmv::impl
