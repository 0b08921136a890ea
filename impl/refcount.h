// AtomicRefcount: the kernel's refcount_t, lock-free. Same rules as the
// model's Refcount (model/refcount.h), which it must match event for event:
// an increment past kMax saturates the counter for ever (leak, never wrap);
// an increment from zero and a decrement of zero change nothing and are
// reported to the caller as events, never as a free of memory in use.
//
// Thread safety: every member is safe to call concurrently. dec() is
// acq_rel, so the thread that sees kHitZero has seen every write made by
// the other holders before they dropped their references.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>

#include "impl/atomic.h"
#include "impl/sched_hooks.h"

namespace mmv::impl {

class AtomicRefcount {
 public:
  static constexpr std::uint32_t kMax = std::numeric_limits<std::int32_t>::max();
  static constexpr std::uint32_t kSaturated = 0xc0000000u;

  enum class Event { kOk, kSaturated, kIncFromZero, kUnderflow, kHitZero };

  constexpr explicit AtomicRefcount(std::uint32_t initial) : v_(initial) {}
  AtomicRefcount(const AtomicRefcount&) = delete;
  AtomicRefcount& operator=(const AtomicRefcount&) = delete;

  std::uint32_t value() const {
    sched_point("refcount read");
    return v_.load(std::memory_order_acquire);
  }
  bool saturated() const { return value() > kMax; }

  // refcount_inc.
  Event inc() {
    sched_point("refcount inc");
    std::uint32_t v = v_.load(std::memory_order_relaxed);
    for (;;) {
      if (v > kMax) return Event::kOk;
      if (v == 0) return Event::kIncFromZero;
      const std::uint32_t next = v == kMax ? kSaturated : v + 1;
      if (v_.compare_exchange_weak(v, next, std::memory_order_relaxed))
        return next == kSaturated ? Event::kSaturated : Event::kOk;
    }
  }
  // Test-only fault (impl/fault_switch.h): kMmgetNotZeroRacy's broken
  // increment-if-not-zero -- a load, then a separate store. Each access is
  // a scheduling point of its own, as two separate atomics are.
  bool racy_inc_not_zero() {
    sched_point("refcount load");
    const std::uint32_t v = v_.load(std::memory_order_acquire);
    if (v == 0) return false;
    sched_point("refcount store");
    v_.store(v + 1, std::memory_order_release);
    return true;
  }
  // Test-only fault (impl/fault_switch.h): kFolioPutRacy's broken
  // decrement -- a load, then a separate store, each a scheduling point.
  Event racy_dec() {
    sched_point("refcount load");
    const std::uint32_t v = v_.load(std::memory_order_acquire);
    if (v > kMax) return Event::kOk;
    if (v == 0) return Event::kUnderflow;
    sched_point("refcount store");
    v_.store(v - 1, std::memory_order_release);
    return v == 1 ? Event::kHitZero : Event::kOk;
  }
  // refcount_inc_not_zero: false, and no change, when the counter is zero.
  bool inc_not_zero(Event* ev) {
    sched_point("refcount inc_not_zero");
    *ev = Event::kOk;
    std::uint32_t v = v_.load(std::memory_order_relaxed);
    for (;;) {
      if (v == 0) return false;
      if (v > kMax) return true;
      const std::uint32_t next = v == kMax ? kSaturated : v + 1;
      // Acquire: the caller goes on to use what the last holder published.
      if (v_.compare_exchange_weak(v, next, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
        if (next == kSaturated) *ev = Event::kSaturated;
        return true;
      }
    }
  }
  // refcount_dec_and_test: kHitZero when this call released the object.
  Event dec() {
    sched_point("refcount dec");
    std::uint32_t v = v_.load(std::memory_order_relaxed);
    for (;;) {
      if (v > kMax) return Event::kOk;
      if (v == 0) return Event::kUnderflow;
      if (v_.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel,
                                   std::memory_order_relaxed))
        return v == 1 ? Event::kHitZero : Event::kOk;
    }
  }
  // A decrement that refuses to take the counter from 1 to 0 (returns false
  // and changes nothing then): for references that must not be the last.
  bool dec_unless_one() {
    sched_point("refcount dec_unless_one");
    std::uint32_t v = v_.load(std::memory_order_relaxed);
    for (;;) {
      if (v > kMax) return true;
      if (v <= 1) return false;
      if (v_.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel,
                                   std::memory_order_relaxed))
        return true;
    }
  }
  // Adds n (> 0) to a counter the caller already holds a reference on
  // (refcount_add). On a counter at zero it changes nothing, like inc().
  void add(std::uint32_t n) {
    sched_point("refcount add");
    std::uint32_t v = v_.load(std::memory_order_relaxed);
    for (;;) {
      if (v > kMax || v == 0) return;
      const std::uint32_t next = kMax - v < n ? kSaturated : v + n;
      if (v_.compare_exchange_weak(v, next, std::memory_order_relaxed)) return;
    }
  }

 private:
  Atomic<std::uint32_t> v_;
};

}  // namespace mmv::impl
