// Atomic<T>: std::atomic<T> for the impl's lock-free protocols, which a
// scheduled run with weak memory (sched/sched.h, "Weak memory") can hold
// to the C++ memory model: there a load may read an older store whenever
// its memory order and the happens-before edges allow it, chosen and
// replayed by the schedule, and every access is a scheduling point. In any
// other run, and in builds without MMV_SCHED, it is the plain atomic: the
// same operations with the same orders, and nothing else.
//
// T is a trivially copyable type of at most 8 bytes (counters, flags,
// sequence numbers, pointers). Only the operations the impl uses are here.
//
// Thread safety: as std::atomic<T>.
//
// Invariants:
//  1. The std::atomic<T> inside always holds the newest value in the
//     location's modification order; what a weak load returns instead is
//     one of the older stores the scheduler kept, never a value no store
//     wrote.
//  2. A new Atomic (construction) or a dying one ends the location's
//     history, so a later object at the same address never reads an
//     earlier one's stores.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "impl/sched_hooks.h"

namespace mmv::impl {

template <class T>
class Atomic {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(std::uint64_t));

 public:
  constexpr Atomic() noexcept : v_() { forget(); }
  constexpr explicit Atomic(T v) noexcept : v_(v) { forget(); }
  constexpr ~Atomic() { forget(); }
  Atomic(const Atomic&) = delete;
  Atomic& operator=(const Atomic&) = delete;

  T load(std::memory_order mo = std::memory_order_seq_cst) const {
    if (!sched_weak_active()) return v_.load(mo);
    sched_point("atomic load");
    return from_bits(sched_weak_load(this, bits(v_.load(mo)), mo));
  }
  void store(T v, std::memory_order mo = std::memory_order_seq_cst) {
    if (!sched_weak_active()) return v_.store(v, mo);
    sched_point("atomic store");
    // An exchange, to learn the value the store replaces (the first store
    // of a run keeps it as the location's initial value).
    const T before = v_.exchange(v, mo);
    sched_weak_store(this, bits(before), bits(v), mo);
  }
  T exchange(T v, std::memory_order mo = std::memory_order_seq_cst) {
    if (!sched_weak_active()) return v_.exchange(v, mo);
    sched_point("atomic exchange");
    const T old = v_.exchange(v, mo);
    sched_weak_rmw(this, bits(old), bits(v), mo, false);
    return old;
  }
  T fetch_add(T d, std::memory_order mo = std::memory_order_seq_cst) {
    if (!sched_weak_active()) return v_.fetch_add(d, mo);
    sched_point("atomic fetch_add");
    const T old = v_.fetch_add(d, mo);
    sched_weak_rmw(this, bits(old), bits(static_cast<T>(old + d)), mo, false);
    return old;
  }
  T fetch_sub(T d, std::memory_order mo = std::memory_order_seq_cst) {
    if (!sched_weak_active()) return v_.fetch_sub(d, mo);
    sched_point("atomic fetch_sub");
    const T old = v_.fetch_sub(d, mo);
    sched_weak_rmw(this, bits(old), bits(static_cast<T>(old - d)), mo, false);
    return old;
  }
  // Never fails spuriously under weak memory: the schedule already chooses
  // what the loads before it read.
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success, std::memory_order failure) {
    if (!sched_weak_active()) return v_.compare_exchange_weak(expected, desired, success, failure);
    return cas(expected, desired, success, failure);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order mo) {
    return compare_exchange_weak(expected, desired, mo, failure_order(mo));
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success, std::memory_order failure) {
    if (!sched_weak_active()) return v_.compare_exchange_strong(expected, desired, success, failure);
    return cas(expected, desired, success, failure);
  }

 private:
  // The failure order std::atomic derives from a single order.
  static constexpr std::memory_order failure_order(std::memory_order mo) {
    return mo == std::memory_order_acq_rel   ? std::memory_order_acquire
           : mo == std::memory_order_release ? std::memory_order_relaxed
                                             : mo;
  }
  static std::uint64_t bits(T v) {
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof v);
    return b;
  }
  static T from_bits(std::uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof v);
    return v;
  }
  constexpr void forget() const {
    if (!std::is_constant_evaluated() && sched_weak_active()) sched_weak_forget(this);
  }
  bool cas(T& expected, T desired, std::memory_order success, std::memory_order failure) {
    sched_point("atomic compare_exchange");
    const T before = expected;
    const bool ok = v_.compare_exchange_strong(expected, desired, success, failure);
    // On success the value read was `before`; on failure, what expected now holds.
    sched_weak_rmw(this, bits(ok ? before : expected), bits(desired), ok ? success : failure, !ok);
    return ok;
  }

  std::atomic<T> v_;
};

}  // namespace mmv::impl
