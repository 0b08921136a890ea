// PageBytes: the contents of one 4 KiB page, stored sparsely. Bytes that are
// not in the map are zero; the map never holds a zero byte, so two pages with
// equal contents compare equal.
#pragma once

#include <array>
#include <cstdint>
#include <map>

#include "model/addr.h"

namespace mmv {

class PageBytes {
 public:
  std::uint8_t get(std::uint32_t offset) const {
    auto it = bytes_.find(offset);
    return it == bytes_.end() ? 0 : it->second;
  }
  void set(std::uint32_t offset, std::uint8_t value) {
    if (value == 0) {
      bytes_.erase(offset);
    } else {
      bytes_[offset] = value;
    }
  }
  bool all_zero() const { return bytes_.empty(); }
  const std::map<std::uint32_t, std::uint8_t>& nonzero() const { return bytes_; }

  std::array<std::uint8_t, kPageSize> dense() const {
    std::array<std::uint8_t, kPageSize> out{};
    for (const auto& [off, v] : bytes_) out[off] = v;
    return out;
  }
  static PageBytes from_dense(const std::uint8_t* data) {
    PageBytes p;
    for (std::uint32_t i = 0; i < kPageSize; ++i) p.set(i, data[i]);
    return p;
  }

  friend bool operator==(const PageBytes&, const PageBytes&) = default;

 private:
  std::map<std::uint32_t, std::uint8_t> bytes_;
};

}  // namespace mmv
