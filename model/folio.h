// Folio: a physically contiguous group of pages (order 0 = one page, order 9
// = a 2 MiB THP) with a reference count and dirty/accessed state.
#pragma once

#include <cstdint>
#include <vector>

#include "model/page_bytes.h"

namespace mmv {

using FolioId = std::uint64_t;
using FileId = std::uint32_t;

enum class FolioKind {
  kAnon,       // anonymous memory; freed when its last mapping goes
  kPageCache,  // page-cache page of a file; the cache holds one reference
  kDriver,     // a caller-owned page (alloc_page), mapped by vm_insert_page
};

}  // namespace mmv

namespace mmv::model {

// Invariants:
//  1. refcount == mappings (PTEs, or the one PMD, that map it)
//                 + 1 if kind == kPageCache (the cache's reference)
//                 + pins (caller references: alloc_page's, until put_page).
//  2. refcount > 0 while the folio exists; it is erased when it reaches 0.
//  3. pages.size() == 1 << order; order is 0 or 9.
//  4. dirty and accessed stay false for kAnon folios (the kernel only
//     tracks them for file-backed memory; see zap_pte_range).
//  5. a kPageCache folio mapped by a writable or dirty PTE of a file VMA is
//     dirty (a driver VMA may map one with vm_insert_page): a store
//     through a mapping always reaches writeback (write-notify, and
//     folio_mkclean before the dirty bit is cleared).
struct Folio {
  FolioKind kind = FolioKind::kAnon;
  unsigned order = 0;
  std::uint32_t refcount = 0;
  std::uint32_t pins = 0;
  bool dirty = false;
  bool accessed = false;
  FileId file = 0;          // kPageCache only
  std::uint64_t index = 0;  // kPageCache only: page offset in the file
  std::vector<PageBytes> pages;

  friend bool operator==(const Folio&, const Folio&) = default;
};

}  // namespace mmv::model
