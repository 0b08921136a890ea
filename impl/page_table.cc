#include "impl/page_table.h"

namespace mmv::impl {

PmdTable::~PmdTable() {
  for (PteTable* t : deposited_) delete t;
}

PageTables::~PageTables() {
  for (auto& pgd_entry : pgd_) {
    PudTable* pud = pgd_entry.load(std::memory_order_relaxed);
    if (!pud) continue;
    for (auto& pud_entry : pud->e) {
      PmdTable* pmd = pud_entry.load(std::memory_order_relaxed);
      if (!pmd) continue;
      for (unsigned k = 0; k < kEntriesPerTable; ++k) delete pmd->get(k).pte_table();
      delete pmd;
    }
    delete pud;
  }
}

PudTable* PageTables::pud_table(Addr a) const {
  return pgd_[pgd_index(a)].load(std::memory_order_acquire);
}

PmdTable* PageTables::pmd_table(Addr a) const {
  PudTable* pud = pud_table(a);
  return pud ? pud->e[pud_index(a)].load(std::memory_order_acquire) : nullptr;
}

Pmd PageTables::pmd(Addr a) const {
  PmdTable* t = pmd_table(a);
  return t ? t->get(pmd_index(a)) : Pmd();
}

PteTable* PageTables::pte_table(Addr a) const { return pmd(a).pte_table(); }

Pte PageTables::pte(Addr a) const {
  PteTable* t = pte_table(a);
  return t ? t->get(pte_index(a)) : Pte();
}

int PageTables::missing_tables(Addr a, bool leaf) const {
  PudTable* pud = pud_table(a);
  if (!pud) return leaf ? 2 : 3;
  PmdTable* pmd = pud->e[pud_index(a)].load(std::memory_order_acquire);
  if (!pmd) return leaf ? 1 : 2;
  if (leaf) return 0;
  const Pmd e = pmd->get(pmd_index(a));
  return e.none() ? 1 : 0;  // a leaf needs no PTE table
}

PmdTable* PageTables::ensure_pmd_table(Addr a) {
  if (PmdTable* t = pmd_table(a)) return t;
  MutexLock g(page_table_lock_);
  auto& pgd_entry = pgd_[pgd_index(a)];
  PudTable* pud = pgd_entry.load(std::memory_order_acquire);
  if (!pud) {
    pud = new PudTable;
    pgd_entry.store(pud, std::memory_order_release);
    nr_pud_.fetch_add(1, std::memory_order_relaxed);
  }
  auto& pud_entry = pud->e[pud_index(a)];
  PmdTable* pmd = pud_entry.load(std::memory_order_acquire);
  if (!pmd) {
    pmd = new PmdTable;
    pud_entry.store(pmd, std::memory_order_release);
    nr_pmd_.fetch_add(1, std::memory_order_relaxed);
  }
  return pmd;
}

PteTable* PageTables::ensure_pte_table(Addr a) {
  PmdTable* pmd = ensure_pmd_table(a);
  const unsigned i = pmd_index(a);
  if (PteTable* t = pmd->get(i).pte_table()) return t;
  MutexLock g(pmd->lock());
  const Pmd e = pmd->get(i);
  if (e.is_leaf()) return nullptr;
  if (!e.none()) return e.pte_table();
  auto* t = new PteTable;
  pmd->set(i, Pmd::table(t));
  nr_pte_.fetch_add(1, std::memory_order_relaxed);
  return t;
}

}  // namespace mmv::impl
