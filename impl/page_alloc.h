// The page allocator: 4 KiB data frames for Pages (impl/folio.h), kept on
// free lists instead of going back to malloc, as the kernel keeps freed
// pages on per-CPU lists. Without it, freeing the frames of a large zap
// costs far more than the zap itself (glibc consolidates and trims its heap
// inside free()), and the zap path's cost would be the C library's.
//
// Thread safety: each thread frees to and allocates from its own cache;
// caches overflow to, and refill from, one shared list under a mutex (not a
// lockdep class: it is a leaf taken with no other lock of this pool held).
// Frames cached by a thread that exits go to the shared list.
//
// Under AddressSanitizer frames are plain new[]/delete[], so a use after
// free of page data is still reported.
#pragma once

#include <atomic>
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

}  // namespace mmv::impl
