// PageTables: one mm's 4-level radix page table (PGD -> PUD -> PMD -> PTE,
// 512 entries each, 4 KiB pages; P4D folded), with split locks.
//
// Entries are atomics: walkers read them without locks (the kernel's
// READ_ONCE on pgd/pud/pmd), and only the lock below changes them.
//
// Thread safety (who may change what):
//  - PGD and PUD entries (links to PUD and PMD tables): page_table_lock().
//  - a PMD entry (empty, link to a PTE table, or a THP leaf) and that PMD
//    table's deposited tables: the PMD table's lock().
//  - a PTE entry: its PTE table's ptl().
//  - freeing a table: free_uncovered(), only under the mmap write lock, and
//    only tables whose whole span no VMA covers, so no fault, zap or walk
//    that holds a VMA's read lock can be inside one (they only walk the
//    tables covering their own VMA).
//  Lock order: page_table_lock -> PMD lock -> PTL (impl/lockdep.h).
//
// Invariants:
//  1. A PMD entry is empty, a PTE table, or a leaf mapping an order-9
//     folio; a leaf has exactly one deposited PTE table (the table a later
//     split will use, as the kernel's pgtable_trans_huge_deposit), a table
//     link has none.
//  2. Table counts (nr_pte/pmd/pud) equal the tables linked into the tree;
//     deposited tables are not counted (as in model/system.h).
//  3. Zap never frees a table; only free_uncovered() does.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "impl/folio.h"
#include "impl/mutex.h"
#include "model/addr.h"

namespace mmv::impl {

// A PTE value: a Page* with writable/dirty/young in its low bits; 0 = none.
class Pte {
 public:
  static constexpr std::uint64_t kWritable = 1, kDirty = 2, kYoung = 4;

  Pte() = default;
  static Pte from_raw(std::uint64_t raw) { return Pte(raw); }
  static Pte make(Page* page, bool writable, bool dirty, bool young) {
    return Pte(reinterpret_cast<std::uint64_t>(page) | (writable ? kWritable : 0) |
               (dirty ? kDirty : 0) | (young ? kYoung : 0));
  }
  std::uint64_t raw() const { return v_; }
  bool none() const { return v_ == 0; }
  Page* page() const { return reinterpret_cast<Page*>(v_ & ~std::uint64_t{7}); }
  bool writable() const { return v_ & kWritable; }
  bool dirty() const { return v_ & kDirty; }
  bool young() const { return v_ & kYoung; }
  Pte with(std::uint64_t bits) const { return Pte(v_ | bits); }
  Pte without(std::uint64_t bits) const { return Pte(v_ & ~bits); }

 private:
  explicit Pte(std::uint64_t v) : v_(v) {}
  std::uint64_t v_ = 0;
};

class PteTable {
 public:
  PteTable() = default;
  PteTable(const PteTable&) = delete;
  PteTable& operator=(const PteTable&) = delete;

  Mutex& ptl() MMV_RETURN_CAPABILITY(ptl_) { return ptl_; }
  // Lock-free read: exact under ptl(), a hint otherwise.
  Pte get(unsigned i) const { return Pte::from_raw(e_[i].load(std::memory_order_acquire)); }
  void set(unsigned i, Pte v) MMV_REQUIRES(ptl_) { e_[i].store(v.raw(), std::memory_order_release); }
  // Clears entry i and returns what it held. Only PTL holders change
  // entries (no hardware sets accessed or dirty bits behind the lock here:
  // impl/tlb.h, rule 2), so a load and a store do what an exchange would,
  // without a locked instruction per page; an empty entry is not written.
  Pte clear(unsigned i) MMV_REQUIRES(ptl_) {
    const std::uint64_t v = e_[i].load(std::memory_order_relaxed);
    if (v != 0) e_[i].store(0, std::memory_order_release);
    return Pte::from_raw(v);
  }
  // Fills a table nobody else can see yet (a THP split's deposited table).
  void set_unpublished(unsigned i, Pte v) { e_[i].store(v.raw(), std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, kEntriesPerTable> e_{};
  Mutex ptl_{lockdep::LockClass::kPte};
};

// A PMD value: 0, a PteTable*, or a leaf (Folio* | kLeaf | bits).
class Pmd {
 public:
  static constexpr std::uint64_t kLeaf = 1, kWritable = 2, kDirty = 4, kYoung = 8;

  Pmd() = default;
  static Pmd from_raw(std::uint64_t raw) { return Pmd(raw); }
  static Pmd table(PteTable* t) { return Pmd(reinterpret_cast<std::uint64_t>(t)); }
  static Pmd leaf(Folio* f, bool writable, bool dirty, bool young) {
    return Pmd(reinterpret_cast<std::uint64_t>(f) | kLeaf | (writable ? kWritable : 0) |
               (dirty ? kDirty : 0) | (young ? kYoung : 0));
  }
  std::uint64_t raw() const { return v_; }
  bool none() const { return v_ == 0; }
  bool is_leaf() const { return v_ & kLeaf; }
  PteTable* pte_table() const {
    return is_leaf() ? nullptr : reinterpret_cast<PteTable*>(v_);
  }
  Folio* folio() const {
    return is_leaf() ? reinterpret_cast<Folio*>(v_ & ~std::uint64_t{15}) : nullptr;
  }
  bool writable() const { return v_ & kWritable; }
  bool dirty() const { return v_ & kDirty; }
  bool young() const { return v_ & kYoung; }
  Pmd with(std::uint64_t bits) const { return Pmd(v_ | bits); }
  Pmd without(std::uint64_t bits) const { return Pmd(v_ & ~bits); }

 private:
  explicit Pmd(std::uint64_t v) : v_(v) {}
  std::uint64_t v_ = 0;
};

class PmdTable {
 public:
  PmdTable() = default;
  ~PmdTable();
  PmdTable(const PmdTable&) = delete;
  PmdTable& operator=(const PmdTable&) = delete;

  Mutex& lock() MMV_RETURN_CAPABILITY(lock_) { return lock_; }
  bool empty() const {
    for (unsigned i = 0; i < kEntriesPerTable; ++i)
      if (!get(i).none()) return false;
    return true;
  }
  Pmd get(unsigned i) const { return Pmd::from_raw(e_[i].load(std::memory_order_acquire)); }
  void set(unsigned i, Pmd v) MMV_REQUIRES(lock_) { e_[i].store(v.raw(), std::memory_order_release); }
  // pgtable_trans_huge_deposit / withdraw.
  void deposit(unsigned i, PteTable* t) MMV_REQUIRES(lock_) { deposited_[i] = t; }
  PteTable* withdraw(unsigned i) MMV_REQUIRES(lock_) {
    PteTable* t = deposited_[i];
    deposited_[i] = nullptr;
    return t;
  }

 private:
  std::array<std::atomic<std::uint64_t>, kEntriesPerTable> e_{};
  std::array<PteTable*, kEntriesPerTable> deposited_ MMV_GUARDED_BY(lock_){};
  Mutex lock_{lockdep::LockClass::kPmd};
};

struct PudTable {
  std::array<std::atomic<PmdTable*>, kEntriesPerTable> e{};
  bool empty() const {
    for (const auto& x : e)
      if (x.load(std::memory_order_acquire)) return false;
    return true;
  }
};

constexpr unsigned pgd_index(Addr a) { return (a >> kPgdShift) % kEntriesPerTable; }
constexpr unsigned pud_index(Addr a) { return (a >> kPudShift) % kEntriesPerTable; }
constexpr unsigned pmd_index(Addr a) { return (a >> kPmdShift) % kEntriesPerTable; }
constexpr unsigned pte_index(Addr a) { return (a >> kPageShift) % kEntriesPerTable; }

class PageTables {
 public:
  PageTables() = default;
  ~PageTables();  // frees whatever is left (check_mm reports that as a bug)
  PageTables(const PageTables&) = delete;
  PageTables& operator=(const PageTables&) = delete;

  // Lock-free lookups (see the header comment for when they are exact).
  PudTable* pud_table(Addr a) const;
  PmdTable* pmd_table(Addr a) const;
  Pmd pmd(Addr a) const;                // none if no PMD table
  PteTable* pte_table(Addr a) const;    // null if absent or a leaf
  Pte pte(Addr a) const;                // none if no PTE table
  // Tables a PTE (or, with `leaf`, a PMD leaf) at `a` still needs.
  int missing_tables(Addr a, bool leaf) const;

  // Allocate-if-missing, safe against concurrent callers. ensure_pte_table
  // returns null when the PMD slot holds a THP leaf.
  PmdTable* ensure_pmd_table(Addr a);
  PteTable* ensure_pte_table(Addr a);

  // Frees every table that intersects [lo, hi), whose whole span
  // `covered(lo, hi)` reports as not intersecting any VMA, and (for PMD and
  // PUD tables) that no longer links any table. Uncovered PTE tables must
  // hold no entries. REQUIRES: the mm's mmap lock held for write.
  template <class Covered>
  void free_uncovered(Addr lo, Addr hi, Covered covered);

  std::int64_t nr_pte_tables() const { return nr_pte_.load(std::memory_order_relaxed); }
  std::int64_t nr_pmd_tables() const { return nr_pmd_.load(std::memory_order_relaxed); }
  std::int64_t nr_pud_tables() const { return nr_pud_.load(std::memory_order_relaxed); }
  // A THP install/split links or unlinks a PTE table by hand.
  void count_pte_table(int delta) { nr_pte_.fetch_add(delta, std::memory_order_relaxed); }

  // Visits every present leaf in address order, without locks: for
  // observation and invariant checks of a quiescent mm. f(addr, Pte) for
  // PTEs, g(addr, Pmd) for PMD leaves; t(level, base) for each linked table
  // (level 1 = PTE, 2 = PMD, 3 = PUD).
  template <class F, class G, class T>
  void walk(F f, G g, T t) const;

  Mutex& page_table_lock() MMV_RETURN_CAPABILITY(page_table_lock_) { return page_table_lock_; }

 private:
  std::array<std::atomic<PudTable*>, kEntriesPerTable> pgd_{};
  Mutex page_table_lock_{lockdep::LockClass::kPageTableLock};
  std::atomic<std::int64_t> nr_pte_{0}, nr_pmd_{0}, nr_pud_{0};
};

template <class Covered>
void PageTables::free_uncovered(Addr lo, Addr hi, Covered covered) {
  if (lo >= hi) return;
  MutexLock g(page_table_lock_);
  for (Addr pgd_base = pgd_down(lo); pgd_base < hi; pgd_base += kPgdSize) {
    PudTable* pud = pgd_[pgd_index(pgd_base)].load(std::memory_order_acquire);
    if (pud) {
      const Addr pud_lo = std::max(pgd_base, pud_down(lo));
      const Addr pud_hi = std::min(pgd_base + kPgdSize, hi);
      for (Addr pud_base = pud_lo; pud_base < pud_hi; pud_base += kPudSize) {
        auto& pud_entry = pud->e[pud_index(pud_base)];
        PmdTable* pmd = pud_entry.load(std::memory_order_acquire);
        if (!pmd) continue;
        {
          MutexLock pl(pmd->lock());
          const Addr pmd_lo = std::max(pud_base, pmd_down(lo));
          const Addr pmd_hi = std::min(pud_base + kPudSize, hi);
          for (Addr pmd_base = pmd_lo; pmd_base < pmd_hi; pmd_base += kPmdSize) {
            const unsigned i = pmd_index(pmd_base);
            PteTable* t = pmd->get(i).pte_table();
            if (!t || covered(pmd_base, pmd_base + kPmdSize)) continue;
            pmd->set(i, Pmd());
            delete t;
            nr_pte_.fetch_sub(1, std::memory_order_relaxed);
          }
        }
        // A table outside [lo, hi) may still hang below: free the parent
        // only when it is empty, as free_pgd_range's floor/ceiling does.
        if (covered(pud_base, pud_base + kPudSize) || !pmd->empty()) continue;
        pud_entry.store(nullptr, std::memory_order_release);
        delete pmd;
        nr_pmd_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    if (!pud || covered(pgd_base, pgd_base + kPgdSize) || !pud->empty()) continue;
    pgd_[pgd_index(pgd_base)].store(nullptr, std::memory_order_release);
    delete pud;
    nr_pud_.fetch_sub(1, std::memory_order_relaxed);
  }
}

template <class F, class G, class T>
void PageTables::walk(F f, G g, T t) const {
  for (unsigned i = 0; i < kEntriesPerTable; ++i) {
    PudTable* pud = pgd_[i].load(std::memory_order_acquire);
    if (!pud) continue;
    const Addr pgd_base = Addr{i} << kPgdShift;
    t(3, pgd_base);
    for (unsigned j = 0; j < kEntriesPerTable; ++j) {
      PmdTable* pmd = pud->e[j].load(std::memory_order_acquire);
      if (!pmd) continue;
      const Addr pud_base = pgd_base + (Addr{j} << kPudShift);
      t(2, pud_base);
      for (unsigned k = 0; k < kEntriesPerTable; ++k) {
        const Pmd e = pmd->get(k);
        const Addr pmd_base = pud_base + (Addr{k} << kPmdShift);
        if (e.none()) continue;
        if (e.is_leaf()) {
          g(pmd_base, e);
          continue;
        }
        t(1, pmd_base);
        const PteTable* pt = e.pte_table();
        for (unsigned l = 0; l < kEntriesPerTable; ++l) {
          const Pte p = pt->get(l);
          if (!p.none()) f(pmd_base + (Addr{l} << kPageShift), p);
        }
      }
    }
  }
}

}  // namespace mmv::impl
