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

// Raw storage for one Folio (Folio's operator new/delete): `size` is always
// sizeof(Folio), a multiple of kFolioDescAlign, and descriptors are aligned
// to it, so each one's first kFolioDescAlign bytes lie in one cache line.
inline constexpr std::size_t kFolioDescAlign = 32;
void* alloc_folio_desc(std::size_t size);
void free_folio_desc(void* desc);
void free_folio_descs(void* const* descs, std::size_t n);

}  // namespace mmv::impl
