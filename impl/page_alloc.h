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
// folios a fault loop maps lie next to each other, and the zap that clears
// them walks their descriptors almost in order.
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
// Frees n frames at once: what a gather's flush frees, with one look at
// this thread's cache instead of n.
void free_frames(FrameWord* const* frames, std::size_t n);

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
void free_folio_descs(void* const* descs, std::size_t n);

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
