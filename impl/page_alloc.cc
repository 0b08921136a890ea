#include "impl/page_alloc.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
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
// What a thread's exit does with its caches: hand them to a shared list,
// under that list's mutex.
std::unique_lock<std::mutex> lock_for_exit(std::mutex& mu) {
  // Test-only fault (impl/fault_switch.h): no lock.
  std::unique_lock<std::mutex> g(mu, std::defer_lock);
  if (!fault_active(Fault::kFreeListUnlocked)) g.lock();
  return g;
}

// Free frames: a per-thread cache of up to kCacheMax over a shared list.
class Frames {
 public:
  static constexpr std::size_t kCacheMax = 1024;

  // A cached frame, or null when this thread's cache and the shared list
  // are both empty.
  static FramePtr take() {
    auto& mine = t_cache.objs;
    if (mine.empty()) {
      Shared& s = shared();
      std::lock_guard<std::mutex> g(s.mu);
      const std::size_t n = std::min(s.objs.size(), kCacheMax / 2);
      mine.insert(mine.end(), s.objs.end() - static_cast<std::ptrdiff_t>(n), s.objs.end());
      s.objs.resize(s.objs.size() - n);
    }
    if (mine.empty()) return nullptr;
    FramePtr p = mine.back();
    mine.pop_back();
    return p;
  }

  static void give(FramePtr const* p, std::size_t n) {
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
    std::vector<FramePtr> objs;
  };
  static Shared& shared() {
    static auto* s = new Shared;  // never destroyed: threads may exit after main
    return *s;
  }
  struct ThreadCache {
    std::vector<FramePtr> objs;
    ThreadCache() { objs.reserve(kCacheMax); }
    ~ThreadCache() {
      auto g = lock_for_exit(shared().mu);
      shared().objs.insert(shared().objs.end(), objs.begin(), objs.end());
    }
  };
  static thread_local ThreadCache t_cache;
};
thread_local Frames::ThreadCache Frames::t_cache;

// Free descriptors, linked through their own storage (FreeFolioDesc), each
// still holding the frame its folio had. A zap frees descriptors whose
// lines it has just read, so linking them there costs two stores to lines
// in cache; copying their addresses (and their frames') into arrays wrote
// lines the populate's zeroing had evicted, and a large zap spent a sixth
// of its time in those copies (docs/zap-performance-log.md).
//
// A thread holds two chains (Bonwick's magazines) and trades whole chains
// with a shared depot under its mutex, so moving a chain between threads
// is one pointer, not a copy per descriptor; with two, a thread that
// alternates frees and allocations around a full chain does not go to the
// depot each time. A chain is full at kMag or more: a flush splices its
// whole batch onto the loaded chain, which may pass kMag by one batch.
class Descs {
 public:
  static constexpr std::size_t kMag = 512;

  struct Chain {
    FreeFolioDesc* head = nullptr;
    FreeFolioDesc* tail = nullptr;
    std::size_t n = 0;
  };

  // A free descriptor and, in *frame, the frame it kept (or null); null
  // when the thread and the depot have none.
  static void* take(FramePtr* frame) {
    Mags& m = t_mags;
    if (m.loaded.n == 0) {
      if (m.spare.n != 0) {
        std::swap(m.loaded, m.spare);
      } else {
        Depot& d = depot();
        std::lock_guard<std::mutex> g(d.mu);
        if (d.chains.empty()) return nullptr;
        m.loaded = d.chains.back();
        d.chains.pop_back();
      }
    }
    FreeFolioDesc* f = m.loaded.head;
    m.loaded.head = f->next;
    if (--m.loaded.n == 0) m.loaded.tail = nullptr;
    *frame = f->frame;
    return f;
  }

  // Puts a chain of c.n linked descriptors (c.tail->next unset) in front of
  // this thread's loaded chain.
  static void give(Chain c) {
    Mags& m = t_mags;
    if (m.loaded.n >= kMag) {
      if (m.spare.n >= kMag) {
        Depot& d = depot();
        std::lock_guard<std::mutex> g(d.mu);
        d.chains.push_back(m.spare);
      }
      m.spare = m.loaded;
      m.loaded = Chain{};
    }
    c.tail->next = m.loaded.head;
    if (!m.loaded.tail) m.loaded.tail = c.tail;
    m.loaded.head = c.head;
    m.loaded.n += c.n;
  }

 private:
  struct Depot {
    std::mutex mu;
    std::vector<Chain> chains;  // any length: a thread's exit leaves partial ones
  };
  static Depot& depot() {
    static auto* d = new Depot;  // never destroyed: threads may exit after main
    return *d;
  }
  struct Mags {
    Chain loaded, spare;
    ~Mags() {
      auto g = lock_for_exit(depot().mu);
      for (const Chain& c : {loaded, spare})
        if (c.n != 0) depot().chains.push_back(c);
    }
  };
  static thread_local Mags t_mags;
};
thread_local Descs::Mags Descs::t_mags;

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
  FramePtr f = Frames::take();
  if (!f) return new_frame();
  zero(f);  // zeroed on allocation, like __GFP_ZERO, not on free
  return f;
#endif
}

void free_frame(FrameWord* frame) {
#if MMV_ASAN
  delete[] frame;
#else
  Frames::give(&frame, 1);
#endif
}

void* alloc_folio_desc() {
#if MMV_ASAN
  return ::operator new(kFolioDescSize + kFolioExtSize, std::align_val_t{kFolioDescAlign});
#else
  FramePtr frame = nullptr;
  if (void* p = Descs::take(&frame)) {
    // Its folio's frame goes where alloc_frame looks first.
    if (frame) Frames::give(&frame, 1);
    return p;
  }
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

void free_folio_desc(void* desc) {
#if MMV_ASAN
  ::operator delete(desc, std::align_val_t{kFolioDescAlign});
#else
  auto* f = new (desc) FreeFolioDesc{nullptr, nullptr};
  Descs::give({f, f, 1});
#endif
}

void FreedFolioDescs::splice() {
#if !MMV_ASAN
  if (n_ != 0) Descs::give({head_, tail_, n_});
#endif
}

}  // namespace mmv::impl
