#include "impl/page_alloc.h"

#include <cstring>
#include <mutex>
#include <vector>

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
constexpr std::size_t kCacheMax = 1024;

struct Shared {
  std::mutex mu;
  std::vector<FramePtr> frames;
};
Shared& shared() {
  static auto* s = new Shared;  // never destroyed: threads may exit after main
  return *s;
}

struct ThreadCache {
  std::vector<FramePtr> frames;
  ~ThreadCache() {
    // Test-only fault (impl/fault_switch.h): no lock.
    std::unique_lock<std::mutex> g(shared().mu, std::defer_lock);
    if (!fault_active(Fault::kFreeListUnlocked)) g.lock();
    shared().frames.insert(shared().frames.end(), frames.begin(), frames.end());
  }
};
thread_local ThreadCache t_cache;
#endif

}  // namespace

FrameWord* alloc_frame() {
#if MMV_ASAN
  return new_frame();
#else
  auto& mine = t_cache.frames;
  if (mine.empty()) {
    std::lock_guard<std::mutex> g(shared().mu);
    auto& all = shared().frames;
    const std::size_t take = std::min(all.size(), kCacheMax / 2);
    mine.insert(mine.end(), all.end() - static_cast<std::ptrdiff_t>(take), all.end());
    all.resize(all.size() - take);
  }
  if (mine.empty()) return new_frame();
  FramePtr f = mine.back();
  mine.pop_back();
  zero(f);  // zeroed on allocation, like __GFP_ZERO, not on free
  return f;
#endif
}

void free_frame(FrameWord* frame) {
#if MMV_ASAN
  delete[] frame;
#else
  auto& mine = t_cache.frames;
  mine.push_back(frame);
  if (mine.size() >= kCacheMax) {
    std::lock_guard<std::mutex> g(shared().mu);
    auto& all = shared().frames;
    all.insert(all.end(), mine.begin() + kCacheMax / 2, mine.end());
    mine.resize(kCacheMax / 2);
  }
#endif
}

}  // namespace mmv::impl
