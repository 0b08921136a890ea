// PageBytes: the contents of one 4 KiB page, stored sparsely. Bytes that are
// not in the map are zero; the map never holds a zero byte, so two pages with
// equal contents compare equal.
//
// A value type whose copies share their map until one of them is written
// (copy on write): the linearizability checker copies whole model states
// at every search node, and copying each page's map was most of the cost
// of a check (malloc and free of map nodes). Not for concurrent use of one
// object; separate copies may be used by separate threads.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>

#include "model/addr.h"

namespace mmv {

class PageBytes {
 public:
  using Map = std::map<std::uint32_t, std::uint8_t>;

  std::uint8_t get(std::uint32_t offset) const {
    if (!bytes_) return 0;
    auto it = bytes_->find(offset);
    return it == bytes_->end() ? 0 : it->second;
  }
  void set(std::uint32_t offset, std::uint8_t value) {
    if (value == 0) {
      if (!bytes_ || !bytes_->contains(offset)) return;
      own().erase(offset);
      if (bytes_->empty()) bytes_.reset();
    } else {
      own()[offset] = value;
    }
  }
  bool all_zero() const { return !bytes_; }
  const Map& nonzero() const {
    static const Map kEmpty;
    return bytes_ ? *bytes_ : kEmpty;
  }

  std::array<std::uint8_t, kPageSize> dense() const {
    std::array<std::uint8_t, kPageSize> out{};
    for (const auto& [off, v] : nonzero()) out[off] = v;
    return out;
  }
  static PageBytes from_dense(const std::uint8_t* data) {
    PageBytes p;
    for (std::uint32_t i = 0; i < kPageSize; ++i) p.set(i, data[i]);
    return p;
  }

  friend bool operator==(const PageBytes& a, const PageBytes& b) {
    return a.bytes_ == b.bytes_ || a.nonzero() == b.nonzero();
  }

 private:
  // The map, unshared: copied first if another PageBytes holds it too.
  Map& own() {
    if (!bytes_) {
      bytes_ = std::make_shared<Map>();
    } else if (bytes_.use_count() > 1) {
      bytes_ = std::make_shared<Map>(*bytes_);
    }
    return *bytes_;
  }

  // Null when the page is all zero; never an empty map.
  std::shared_ptr<Map> bytes_;
};

}  // namespace mmv
