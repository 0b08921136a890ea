#include "impl/page_alloc.h"

#include <cassert>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include <sys/mman.h>

#include "impl/fault_switch.h"
#include "impl/sanitizers.h"

namespace mmv::impl {
namespace {

using FramePtr = FrameWord*;

// The frame is not yet visible to any other thread (it is published by a
// release CAS in Page::ensure_data), so plain stores are enough; one memset
// is cheaper than 512 atomic word stores.
void zero(FramePtr f) {
  static_assert(sizeof(FrameWord) == sizeof(std::uint64_t));
  std::memset(static_cast<void*>(f), 0, kPageSize);
}

FramePtr new_frame() {
  auto* f = new FrameWord[kFrameWords];
  zero(f);
  return f;
}

#if !MMV_ASAN
// One kind of recycled object: a per-thread cache of up to kCacheMax free
// objects over a shared list. Kind only tells the instances apart.
template <int Kind>
class Recycler {
 public:
  static constexpr std::size_t kCacheMax = 1024;

  // A cached object, or null when this thread's cache and the shared list
  // are both empty.
  static void* take() {
    auto& mine = t_cache.objs;
    if (mine.empty()) {
      Shared& s = shared();
      std::lock_guard<std::mutex> g(s.mu);
      const std::size_t n = std::min(s.objs.size(), kCacheMax / 2);
      mine.insert(mine.end(), s.objs.end() - static_cast<std::ptrdiff_t>(n), s.objs.end());
      s.objs.resize(s.objs.size() - n);
    }
    if (mine.empty()) return nullptr;
    void* p = mine.back();
    mine.pop_back();
    return p;
  }

  static void give(void* const* p, std::size_t n) {
    auto& mine = t_cache.objs;
    mine.insert(mine.end(), p, p + n);
    if (mine.size() >= kCacheMax) {
      Shared& s = shared();
      std::lock_guard<std::mutex> g(s.mu);
      s.objs.insert(s.objs.end(), mine.begin() + kCacheMax / 2, mine.end());
      mine.resize(kCacheMax / 2);
    }
  }

 private:
  struct Shared {
    std::mutex mu;
    std::vector<void*> objs;
  };
  static Shared& shared() {
    static auto* s = new Shared;  // never destroyed: threads may exit after main
    return *s;
  }
  struct ThreadCache {
    std::vector<void*> objs;
    ThreadCache() { objs.reserve(kCacheMax); }
    ~ThreadCache() {
      // Test-only fault (impl/fault_switch.h): no lock.
      std::unique_lock<std::mutex> g(shared().mu, std::defer_lock);
      if (!fault_active(Fault::kFreeListUnlocked)) g.lock();
      shared().objs.insert(shared().objs.end(), objs.begin(), objs.end());
    }
  };
  static thread_local ThreadCache t_cache;
};
template <int Kind>
thread_local typename Recycler<Kind>::ThreadCache Recycler<Kind>::t_cache;

using Frames = Recycler<0>;
using FolioDescs = Recycler<1>;

// The descriptors a thread has not handed out yet: the rest of its chunk.
struct Chunk {
  std::byte* next = nullptr;
  std::size_t left = 0;
};
thread_local Chunk t_chunk;
#endif

}  // namespace

FrameWord* alloc_frame() {
#if MMV_ASAN
  return new_frame();
#else
  auto* f = static_cast<FramePtr>(Frames::take());
  if (!f) return new_frame();
  zero(f);  // zeroed on allocation, like __GFP_ZERO, not on free
  return f;
#endif
}

void free_frame(FrameWord* frame) { free_frames(&frame, 1); }

void free_frames(FrameWord* const* frames, std::size_t n) {
#if MMV_ASAN
  for (std::size_t i = 0; i < n; ++i) delete[] frames[i];
#else
  static_assert(sizeof(FrameWord*) == sizeof(void*));
  Frames::give(reinterpret_cast<void* const*>(frames), n);
#endif
}

void* alloc_folio_desc() {
#if MMV_ASAN
  return ::operator new(kFolioDescSize + kFolioExtSize, std::align_val_t{kFolioDescAlign});
#else
  if (void* p = FolioDescs::take()) return p;
  Chunk& c = t_chunk;
  if (c.left == 0) {
    // Never freed: descriptors are recycled, not returned. A chunk is one
    // 2 MiB huge page where the system gives one (as the kernel's memmap
    // sits in its huge-page direct map): a large zap walks megabytes of
    // descriptors, and with 4 KiB pages every 128th would also miss the TLB.
    // Its natural alignment is what folio_desc_ext relies on.
    void* p = ::operator new(kFolioChunkBytes, std::align_val_t{kFolioChunkBytes});
    (void)madvise(p, kFolioChunkBytes, MADV_HUGEPAGE);  // advice: failure is fine
    c.next = static_cast<std::byte*>(p);
    c.left = kFolioDescsPerChunk;
  }
  void* p = c.next;
  c.next += kFolioDescSize;
  --c.left;
  return p;
#endif
}

void free_folio_desc(void* desc) { free_folio_descs(&desc, 1); }

void free_folio_descs(void* const* descs, std::size_t n) {
#if MMV_ASAN
  for (std::size_t i = 0; i < n; ++i) ::operator delete(descs[i], std::align_val_t{kFolioDescAlign});
#else
  FolioDescs::give(descs, n);
#endif
}

}  // namespace mmv::impl
