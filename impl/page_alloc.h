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

using Frame = std::atomic<std::uint8_t>[kPageSize];

// A zero-filled frame.
std::atomic<std::uint8_t>* alloc_frame();
void free_frame(std::atomic<std::uint8_t>* frame);

}  // namespace mmv::impl
