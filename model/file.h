// File: a regular file of a fixed number of pages, with a backing store (the
// bytes "on disk") and a page cache of folios. read(2) sees the cached folio
// where there is one, else the backing store.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "model/folio.h"
#include "model/page_bytes.h"

namespace mmv::model {

// Invariants:
//  1. backing.size() == size_pages.
//  2. every page_cache entry names an existing kPageCache folio whose
//     (file, index) is this file and that key.
struct File {
  std::uint64_t size_pages = 0;
  std::vector<PageBytes> backing;
  std::map<std::uint64_t, FolioId> page_cache;

  friend bool operator==(const File&, const File&) = default;
};

}  // namespace mmv::model
