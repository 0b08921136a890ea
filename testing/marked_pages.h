// Recognisable page contents for tests, files and benchmarks: a few
// non-zero bytes derived from a tag, so a page that ends up in the wrong
// place, or is lost, shows. Header-only and free of any test framework, so
// test helpers (model/test_util.h) and the command runners
// (testing/command.h) build files from the same contents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/addr.h"
#include "model/page_bytes.h"

namespace mmv::testing {

// Bytes 0, 100 and the last one set from `tag`, none of them zero.
inline PageBytes Marked(std::uint8_t tag) {
  PageBytes p;
  p.set(0, tag);
  auto other = static_cast<std::uint8_t>(tag ^ 0x5a);
  p.set(100, other == 0 ? std::uint8_t{1} : other);
  p.set(kPageSize - 1, tag);
  return p;
}

// n pages, page i marked with tag base + i (0xff where that wraps to 0).
inline std::vector<PageBytes> MarkedPages(std::size_t n, std::uint8_t base = 1) {
  std::vector<PageBytes> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto tag = static_cast<std::uint8_t>(base + i);
    out.push_back(Marked(tag == 0 ? 0xff : tag));
  }
  return out;
}

}  // namespace mmv::testing
