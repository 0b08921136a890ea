// Result<T>: a value or an Errc. C++20 has no std::expected; this is the
// small subset the project needs. Result<void> carries only success/error.
#pragma once

#include <cassert>
#include <ostream>
#include <type_traits>
#include <utility>
#include <variant>

#include "model/errc.h"

namespace mmv {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Errc e) : v_(e) {}                  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  const T& value() const {
    assert(ok());
    return std::get<0>(v_);
  }
  Errc error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  friend bool operator==(const Result&, const Result&) = default;

 private:
  std::variant<T, Errc> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errc e) : ok_(false), e_(e) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  Errc error() const {
    assert(!ok_);
    return e_;
  }
  friend bool operator==(const Result& a, const Result& b) {
    return a.ok_ == b.ok_ && (a.ok_ || a.e_ == b.e_);
  }

 private:
  bool ok_ = true;
  Errc e_ = Errc::kInval;
};

using Status = Result<void>;

template <class T>
std::ostream& operator<<(std::ostream& os, const Result<T>& r) {
  if (!r.ok()) return os << "error " << r.error();
  if constexpr (std::is_void_v<T>) {
    return os << "ok";
  } else {
    return os << "ok " << +r.value();
  }
}

}  // namespace mmv
