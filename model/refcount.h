// Refcount: the model of the kernel's refcount_t. Misuse is reported to the
// caller as an Event and never frees memory still in use: an increment past
// kMax saturates the counter (it stays at kSaturated for ever, leaking rather
// than wrapping); an increment from zero or a decrement of zero changes
// nothing (the kernel would also saturate; staying at zero keeps "empty once
// the last user is gone, forever" true even after misuse).
#pragma once

#include <cstdint>
#include <limits>

namespace mmv::model {

class Refcount {
 public:
  static constexpr std::uint32_t kMax = std::numeric_limits<std::int32_t>::max();
  // Any value above kMax is "saturated"; the kernel uses INT_MIN / 2.
  static constexpr std::uint32_t kSaturated = 0xc0000000u;

  enum class Event { kOk, kSaturated, kIncFromZero, kUnderflow, kHitZero };

  constexpr explicit Refcount(std::uint32_t initial) : v_(initial) {}

  std::uint32_t value() const { return v_; }
  bool saturated() const { return v_ > kMax; }

  // refcount_inc. kSaturated if this increment saturated the counter,
  // kIncFromZero (no change) if the object was already released.
  Event inc() {
    if (saturated()) return Event::kOk;
    if (v_ == 0) return Event::kIncFromZero;
    if (v_ == kMax) {
      v_ = kSaturated;
      return Event::kSaturated;
    }
    ++v_;
    return Event::kOk;
  }
  // refcount_inc_not_zero. False (and no change) when the counter is zero.
  bool inc_not_zero(Event* ev) {
    *ev = Event::kOk;
    if (v_ == 0) return false;
    if (saturated()) return true;
    if (v_ == kMax) {
      v_ = kSaturated;
      *ev = Event::kSaturated;
      return true;
    }
    ++v_;
    return true;
  }
  // refcount_dec_and_test. kHitZero when this decrement released the object.
  Event dec() {
    if (saturated()) return Event::kOk;
    if (v_ == 0) return Event::kUnderflow;
    --v_;
    return v_ == 0 ? Event::kHitZero : Event::kOk;
  }

  friend bool operator==(const Refcount&, const Refcount&) = default;

 private:
  std::uint32_t v_;
};

}  // namespace mmv::model
