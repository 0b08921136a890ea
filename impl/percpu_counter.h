// PerCpuCounters: a few signed statistics that many threads update and few
// read -- an mm's rss counters -- kept the way the kernel keeps them
// (percpu_counter, mm->rss_stat): each thread adds to the slot of its
// "CPU", a cache line of its own, and a read sums every slot. A fault or a
// zap then writes no cache line that another thread's fault or zap writes,
// so per-VMA locks are not undone by one shared counter.
//
// Thread safety: add() and sum() may run concurrently. sum() is exact when
// no add() runs (every check of it is made on a quiescent mm); meanwhile
// it is some mix of before and after, as the kernel's is.
//
// Invariant: sum(k) equals the sum of every add(k, delta) that returned.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mmv::impl {

// Which slot the calling thread uses: threads are dealt slots round-robin on
// first use, so up to kCounterSlots threads never share one.
inline constexpr std::size_t kCounterSlots = 16;
inline std::size_t counter_slot() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t slot = next.fetch_add(1, std::memory_order_relaxed) % kCounterSlots;
  return slot;
}

template <std::size_t N>
class PerCpuCounters {
 public:
  void add(std::size_t k, std::int64_t delta) {
    // One thread's slot: an uncontended read-modify-write of its own line.
    slots_[counter_slot()].v[k].fetch_add(delta, std::memory_order_relaxed);
  }
  std::int64_t sum(std::size_t k) const {
    std::int64_t s = 0;
    for (const Slot& slot : slots_) s += slot.v[k].load(std::memory_order_relaxed);
    return s;
  }

 private:
  struct alignas(64) Slot {
    std::array<std::atomic<std::int64_t>, N> v{};
  };
  std::array<Slot, kCounterSlots> slots_;
};

}  // namespace mmv::impl
