// Refcount: the model of the kernel's refcount_t. An increment past kMax or a
// decrement of zero is a bug: it is reported, and the counter saturates
// instead (it stays at kSaturated for ever), so memory still in use is leaked,
// never freed.
#pragma once

#include <cstdint>
#include <limits>

namespace mmv::model {

class Refcount {
 public:
  static constexpr std::uint32_t kMax = std::numeric_limits<std::int32_t>::max();
  // Any value above kMax is "saturated"; the kernel uses INT_MIN / 2.
  static constexpr std::uint32_t kSaturated = 0xc0000000u;

  enum class Event { kOk, kSaturated, kUnderflow, kHitZero };

  constexpr explicit Refcount(std::uint32_t initial) : v_(initial) {}

  std::uint32_t value() const { return v_; }
  bool saturated() const { return v_ > kMax; }

  // refcount_inc. kSaturated if this increment saturated the counter.
  Event inc() {
    if (saturated()) return Event::kOk;
    if (v_ == 0 || v_ == kMax) {  // inc from zero is a use-after-free
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
    if (v_ == 0) {
      v_ = kSaturated;
      return Event::kUnderflow;
    }
    --v_;
    return v_ == 0 ? Event::kHitZero : Event::kOk;
  }

  friend bool operator==(const Refcount&, const Refcount&) = default;

 private:
  std::uint32_t v_;
};

}  // namespace mmv::model
