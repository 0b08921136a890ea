// PageTable: the model of one mm's 4-level page table. Leaf entries are kept
// in ordered maps keyed by virtual address; which tables exist is kept as the
// set of aligned bases each table covers, so that "how many tables" and "zap
// freed no table" can be stated exactly.
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include "model/addr.h"
#include "model/folio.h"

namespace mmv::model {

// A present PTE (absent entries are simply not in the map).
struct Pte {
  bool writable = false;
  bool dirty = false;
  bool young = false;
  bool zero_page = false;     // maps the shared zero page: not a counted folio
  FolioId folio = 0;          // when !zero_page
  std::uint32_t subpage = 0;  // page index inside the folio

  friend bool operator==(const Pte&, const Pte&) = default;
};

// A present PMD leaf: a 2 MiB THP mapped by one entry.
struct PmdLeaf {
  bool writable = false;
  bool dirty = false;
  bool young = false;
  FolioId folio = 0;

  friend bool operator==(const PmdLeaf&, const PmdLeaf&) = default;
};

// Invariants:
//  1. every ptes key is page-aligned and its 2 MiB block is in pte_tables;
//  2. every pmd_leaves key is 2 MiB-aligned and NOT in pte_tables (a PMD
//     entry is either a table or a leaf);
//  3. every PTE table / PMD leaf has its 1 GiB block in pmd_tables, and
//     every PMD table has its 512 GiB block in pud_tables (the PGD always
//     exists and is not counted).
struct PageTable {
  std::map<Addr, Pte> ptes;
  std::map<Addr, PmdLeaf> pmd_leaves;
  std::set<Addr> pte_tables;  // 2 MiB-aligned bases
  std::set<Addr> pmd_tables;  // 1 GiB-aligned bases
  std::set<Addr> pud_tables;  // 512 GiB-aligned bases

  const Pte* pte(Addr a) const;
  const PmdLeaf* pmd_leaf(Addr a) const;  // the leaf covering a, if any
  bool pmd_slot_empty(Addr a) const;      // neither table nor leaf there

  // Tables that would have to be allocated to hold a PTE (or, with
  // `pmd_leaf`, a PMD leaf) covering `a`, top level first.
  int missing_tables(Addr a, bool pmd_leaf) const;
  void add_tables(Addr a, bool pmd_leaf);

  // Frees every table whose span no remaining VMA intersects; `covered(lo,
  // hi)` says whether any VMA intersects [lo, hi). Requires that no leaf
  // remains in such a span.
  template <class Covered>
  void free_uncovered(Covered covered);

  std::size_t nr_pte_tables() const { return pte_tables.size(); }
  std::size_t nr_pmd_tables() const { return pmd_tables.size(); }
  std::size_t nr_pud_tables() const { return pud_tables.size(); }

  friend bool operator==(const PageTable&, const PageTable&) = default;
};

template <class Covered>
void PageTable::free_uncovered(Covered covered) {
  std::erase_if(pte_tables, [&](Addr b) { return !covered(b, b + kPmdSize); });
  std::erase_if(pmd_tables, [&](Addr b) { return !covered(b, b + kPudSize); });
  std::erase_if(pud_tables, [&](Addr b) { return !covered(b, b + kPgdSize); });
}

}  // namespace mmv::model
