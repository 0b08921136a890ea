#include "model/page_table.h"

namespace mmv::model {

const Pte* PageTable::pte(Addr a) const {
  auto it = ptes.find(page_down(a));
  return it == ptes.end() ? nullptr : &it->second;
}

const PmdLeaf* PageTable::pmd_leaf(Addr a) const {
  auto it = pmd_leaves.find(pmd_down(a));
  return it == pmd_leaves.end() ? nullptr : &it->second;
}

bool PageTable::pmd_slot_empty(Addr a) const {
  return !pte_tables.contains(pmd_down(a)) && !pmd_leaves.contains(pmd_down(a));
}

int PageTable::missing_tables(Addr a, bool leaf) const {
  int n = 0;
  if (!pud_tables.contains(pgd_down(a))) ++n;
  if (!pmd_tables.contains(pud_down(a))) ++n;
  if (!leaf && !pte_tables.contains(pmd_down(a))) ++n;
  return n;
}

void PageTable::add_tables(Addr a, bool leaf) {
  pud_tables.insert(pgd_down(a));
  pmd_tables.insert(pud_down(a));
  if (!leaf) pte_tables.insert(pmd_down(a));
}

}  // namespace mmv::model
