// model::System: CPU accesses and page faults (SPEC.md section 4).
#include <algorithm>

#include "model/system.h"

namespace mmv::model {
namespace {

bool thp_eligible(const Vma& v, Addr addr) {
  const Addr block = pmd_down(addr);
  return v.backing.kind == BackingKind::kAnon && !v.is_shared() &&
         (v.flags & flags::kHugePage) && !(v.flags & flags::kNoHugePage) &&
         block >= v.start && block + kPmdSize <= v.end;
}

}  // namespace

void System::map_pte(Addr addr, const Pte& pte) {
  pt_.ptes[page_down(addr)] = pte;
  if (!pte.zero_page) ++folios_.at(pte.folio).refcount;
}

Result<FolioId> System::page_cache_folio(FileId f, std::uint64_t index) {
  File& file = files_.at(f);
  if (auto it = file.page_cache.find(index); it != file.page_cache.end())
    return it->second;
  if (!try_alloc()) return Errc::kNoMem;
  FolioId id = new_folio(FolioKind::kPageCache, 0);
  Folio& folio = folios_.at(id);
  folio.refcount = 1;  // the page cache's reference
  folio.file = f;
  folio.index = index;
  folio.pages[0] = file.backing.at(index);
  file.page_cache[index] = id;
  return id;
}

Result<std::uint8_t> System::read(Addr addr) {
  if (auto s = require_live(); !s.ok()) return s.error();
  auto v = vma_lookup(addr);
  if (!v || !(v->flags & flags::kAccessMask)) return Errc::kSegv;
  if (!page(addr)) {
    if (auto s = fault_missing(*v, addr, /*write=*/false); !s.ok()) return s.error();
  }
  if (auto it = pt_.ptes.find(page_down(addr)); it != pt_.ptes.end()) {
    it->second.young = true;
  } else {
    pt_.pmd_leaves.at(pmd_down(addr)).young = true;
  }
  return peek(addr)->get(static_cast<std::uint32_t>(addr & (kPageSize - 1)));
}

Status System::write(Addr addr, std::uint8_t value) {
  if (auto s = require_live(); !s.ok()) return s.error();
  auto v = vma_lookup(addr);
  if (!v || !(v->flags & flags::kWrite)) return Errc::kSegv;
  if (auto p = page(addr); !p) {
    if (auto s = fault_missing(*v, addr, /*write=*/true); !s.ok()) return s;
  } else if (!p->writable) {
    if (auto s = fault_present(*v, addr); !s.ok()) return s;
  }
  // What the MMU does on a store through a writable entry.
  if (auto it = pt_.ptes.find(page_down(addr)); it != pt_.ptes.end()) {
    it->second.young = it->second.dirty = true;
  } else {
    PmdLeaf& l = pt_.pmd_leaves.at(pmd_down(addr));
    l.young = l.dirty = true;
  }
  auto p = page(addr);
  folios_.at(p->folio).pages.at(p->subpage).set(
      static_cast<std::uint32_t>(addr & (kPageSize - 1)), value);
  return {};
}

Status System::populate(Addr addr, std::uint64_t len) {
  if (auto s = require_live(); !s.ok()) return s;
  // madvise's own checks (is_valid_madvise).
  if (!page_aligned(addr)) return Errc::kInval;
  std::uint64_t rounded = 0;
  if (!page_round_up(len, &rounded) || addr + rounded < addr) return Errc::kInval;
  // Then GUP, one page at a time, as a store would go.
  for (Addr a = addr; a != addr + rounded; a += kPageSize) {
    const std::optional<Vma> v = vma_lookup(a);
    if (!v) return Errc::kNoMem;
    if ((v->flags & (flags::kIo | flags::kPfnMap)) || !(v->flags & flags::kWrite)) return Errc::kInval;
    const std::optional<PageView> p = page(a);
    if (p && p->writable && !p->pmd_mapped) continue;  // no fault needed, entry untouched
    Status s;
    if (!p) {
      s = fault_missing(*v, a, /*write=*/true);
    } else if (!p->writable) {
      s = fault_present(*v, a);
    }
    if (!s.ok()) return s.error() == Errc::kNoMem ? Errc::kNoMem : Errc::kFault;
    // The entry as the write fault (or, on a THP, touch_pmd) leaves it.
    if (auto it = pt_.ptes.find(a); it != pt_.ptes.end()) {
      it->second.young = it->second.dirty = true;
    } else {
      PmdLeaf& l = pt_.pmd_leaves.at(pmd_down(a));
      l.young = l.dirty = true;
    }
  }
  return {};
}

Status System::fault_missing(const Vma& v, Addr addr, bool write) {
  const bool vma_writable = (v.flags & flags::kWrite) != 0;
  switch (v.backing.kind) {
    case BackingKind::kDriver:
      return Errc::kBus;  // a driver VMA without a ->fault handler

    case BackingKind::kAnon: {
      if (thp_eligible(v, addr) && pt_.pmd_slot_empty(addr)) {
        if (pt_.missing_tables(addr, /*pmd_leaf=*/true) > 0 && !try_alloc())
          return Errc::kNoMem;
        pt_.add_tables(addr, /*pmd_leaf=*/true);
        if (try_alloc()) {
          FolioId id = new_folio(FolioKind::kAnon, 9);
          folios_.at(id).refcount = 1;
          ensure_anon_vma(addr);
          pt_.pmd_leaves[pmd_down(addr)] = {vma_writable, true, true, id};
          return {};
        }
        // No THP to be had: fall back to a small page, like the kernel.
      }
      const bool needs_alloc = pt_.missing_tables(addr, false) > 0 || write;
      if (needs_alloc && !try_alloc()) return Errc::kNoMem;
      pt_.add_tables(addr, false);
      if (!write) {
        map_pte(addr, Pte{false, false, true, /*zero_page=*/true, 0, 0});
        return {};
      }
      FolioId id = new_folio(FolioKind::kAnon, 0);
      ensure_anon_vma(addr);
      map_pte(addr, Pte{true, true, true, false, id, 0});
      return {};
    }

    case BackingKind::kFile: {
      const std::uint64_t index = v.file_index(addr);
      const File& file = files_.at(v.backing.file);
      if (pt_.missing_tables(addr, false) > 0 && !try_alloc()) return Errc::kNoMem;
      // do_read_fault maps the cached neighbours before it looks at the
      // faulting page, so what it maps stays even if the fault then fails.
      if (!write) {
        fault_around(v, addr);
        if (page(addr)) return {};
      }
      const bool cow = write && !v.is_shared();
      // do_cow_fault prepares the anon_vma before it reads the file page, so
      // a store beyond the end of a private mapping leaves the area with an
      // anon_vma before its SIGBUS (found by the linux side: docs/linux.md).
      if (index >= file.size_pages) {
        if (cow) ensure_anon_vma(addr);
        return Errc::kBus;
      }
      if ((!file.page_cache.contains(index) || cow) && !try_alloc()) return Errc::kNoMem;
      pt_.add_tables(addr, false);
      FolioId cached = page_cache_folio(v.backing.file, index).value();
      if (cow) {
        FolioId id = new_folio(FolioKind::kAnon, 0);
        folios_.at(id).pages[0] = folios_.at(cached).pages[0];
        ensure_anon_vma(addr);
        map_pte(addr, Pte{true, true, true, false, id, 0});
      } else if (write) {
        map_pte(addr, Pte{true, true, true, false, cached, 0});
        folios_.at(cached).dirty = true;  // write-notify: dirty at fault time
      } else {
        map_pte(addr, Pte{false, false, true, false, cached, 0});
      }
      return {};
    }
  }
  return Errc::kInval;
}

void System::ensure_anon_vma(Addr addr) {
  auto it = std::prev(vmas_.upper_bound(addr));
  Vma& v = it->second;
  if (v.anon_vma != 0) return;
  // __anon_vma_prepare: a neighbour's anon_vma where find_mergeable_anon_vma
  // takes it (the next area first, then the previous one), else a new one.
  // (The linux side found that this model always made a new one.)
  const auto next = std::next(it);
  if (next != vmas_.end() && next->second.anon_vma != 0 && anon_vma_compatible(v, next->second)) {
    v.anon_vma = next->second.anon_vma;
  } else if (it != vmas_.begin() && std::prev(it)->second.anon_vma != 0 &&
             anon_vma_compatible(std::prev(it)->second, v)) {
    v.anon_vma = std::prev(it)->second.anon_vma;
  } else {
    v.anon_vma = next_anon_vma_++;
  }
}

void System::fault_around(const Vma& v, Addr addr) {
  constexpr std::uint64_t kWindow = 16;  // fault_around_bytes / PAGE_SIZE
  const std::uint64_t pte_off = (addr >> kPageShift) % kEntriesPerTable;
  const std::uint64_t vma_off = (addr - v.start) >> kPageShift;
  const std::uint64_t from = std::max(pte_off / kWindow * kWindow,
                                      pte_off - std::min(pte_off, vma_off));
  const std::uint64_t to = std::min({from + kWindow, std::uint64_t{kEntriesPerTable},
                                     pte_off + v.pages() - vma_off});
  const File& file = files_.at(v.backing.file);
  const Addr table = pmd_down(addr);
  auto at = [&](std::uint64_t i) { return table + (i << kPageShift); };
  // The window is clamped to end of file (filemap_map_pages: end_pgoff =
  // min(end_pgoff, file_end)). Since Linux 6.18 ("mm/memory: do not populate
  // page table entries beyond i_size"), the PTE table that do_fault_around
  // preallocated is installed only by filemap_map_pmd(), which runs only
  // when the first cached folio of the window ends before end of file
  // (can_map_large). So when that first folio is the file's last page and no
  // PTE table covers the window yet, pte_offset_map_lock() finds none and
  // nothing is mapped; with a table already there (any earlier fault in the
  // same 2 MiB, of any VMA), every cached page of the window is. Measured on
  // the host kernel: model/oracle/kernel_oracle_test.cc,
  // KernelOracleEdge.FaultAroundAtEndOfFile*.
  std::uint64_t end = from;
  while (end < to && v.file_index(at(end)) < file.size_pages) ++end;
  std::uint64_t first = from;
  while (first < end && !file.page_cache.contains(v.file_index(at(first)))) ++first;
  if (first == end) return;
  if (v.file_index(at(first)) + 1 == file.size_pages && !pt_.pte_tables.contains(table)) return;
  for (std::uint64_t i = from; i < end; ++i) {
    const Addr a = at(i);
    const std::uint64_t index = v.file_index(a);
    if (pt_.ptes.contains(a)) continue;
    auto it = file.page_cache.find(index);
    if (it == file.page_cache.end()) continue;
    // The faulting page is accessed now; the others were only prefaulted.
    pt_.add_tables(a, false);
    map_pte(a, Pte{false, false, a == page_down(addr), false, it->second, 0});
  }
}

Status System::fault_present(const Vma& v, Addr addr) {
  if (auto it = pt_.pmd_leaves.find(pmd_down(addr)); it != pt_.pmd_leaves.end()) {
    it->second.writable = true;  // an anonymous THP: reuse it
    return {};
  }
  Pte& pte = pt_.ptes.at(page_down(addr));
  const bool anon = !pte.zero_page && folios_.at(pte.folio).kind == FolioKind::kAnon;
  if (anon || (v.is_shared() && !pte.zero_page)) {
    pte.writable = true;
    Folio& f = folios_.at(pte.folio);
    if (f.kind == FolioKind::kPageCache) f.dirty = true;  // write-notify
    return {};
  }
  // Copy-on-write: the zero page, or a file/driver page in a private VMA.
  if (!try_alloc()) return Errc::kNoMem;
  FolioId id = new_folio(FolioKind::kAnon, 0);
  ensure_anon_vma(addr);
  if (!pte.zero_page) {
    folios_.at(id).pages[0] = folios_.at(pte.folio).pages.at(pte.subpage);
    release_ref(pte.folio);
  }
  const Addr a = page_down(addr);
  pt_.ptes.erase(a);
  map_pte(a, Pte{true, true, true, false, id, 0});
  return {};
}

}  // namespace mmv::model
