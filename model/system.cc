// model::System: construction, files and pages, observation, invariants.
#include "model/system.h"

#include <sstream>

namespace mmv::model {

System::System(Addr window_lo, Addr window_hi, KernelRules rules)
    : window_lo_(window_lo), window_hi_(window_hi), rules_(rules) {}

System System::from_parts(Parts p) {
  System s(p.window_lo, p.window_hi);
  s.users_ = Refcount(p.users);
  s.count_ = Refcount(p.count);
  s.freed_ = p.freed;
  s.vmas_ = std::move(p.vmas);
  s.pt_ = std::move(p.pt);
  s.folios_ = std::move(p.folios);
  s.next_folio_ = p.next_folio;
  s.next_anon_vma_ = p.next_anon_vma;
  s.files_ = std::move(p.files);
  s.next_file_ = p.next_file;
  s.zap_rejections_ = p.zap_rejections;
  s.fail_next_alloc_ = p.fail_next_alloc;
  s.bugs_ = std::move(p.bugs);
  return s;
}

bool System::try_alloc() {
  if (fail_next_alloc_) {
    fail_next_alloc_ = false;
    return false;
  }
  return true;
}

FolioId System::new_folio(FolioKind kind, unsigned order) {
  FolioId id = next_folio_++;
  Folio& f = folios_[id];
  f.kind = kind;
  f.order = order;
  f.pages.resize(std::size_t{1} << order);
  return id;
}

void System::release_ref(FolioId id) {
  Folio& f = folios_.at(id);
  if (--f.refcount == 0) folios_.erase(id);
}

FileId System::create_file(std::vector<PageBytes> contents, Cache cache) {
  FileId id = next_file_++;
  File& file = files_[id];
  file.size_pages = contents.size();
  file.backing = std::move(contents);
  if (cache == Cache::kWarm) {
    for (std::uint64_t i = 0; i < file.size_pages; ++i) {
      FolioId fid = new_folio(FolioKind::kPageCache, 0);
      Folio& f = folios_[fid];
      f.refcount = 1;
      f.file = id;
      f.index = i;
      f.pages[0] = file.backing[i];
      file.page_cache[i] = fid;
    }
  }
  return id;
}

PageBytes System::file_page(FileId f, std::uint64_t index) const {
  const File& file = files_.at(f);
  auto it = file.page_cache.find(index);
  if (it != file.page_cache.end()) return folios_.at(it->second).pages[0];
  return file.backing.at(index);
}

PageBytes System::disk_page(FileId f, std::uint64_t index) const {
  return files_.at(f).backing.at(index);
}

Status System::writeback(FileId f) {
  auto fit = files_.find(f);
  if (fit == files_.end()) return Errc::kInval;
  for (const auto& [index, fid] : fit->second.page_cache) {
    Folio& folio = folios_.at(fid);
    if (!folio.dirty) continue;
    fit->second.backing[index] = folio.pages[0];
    folio.dirty = false;
    // folio_mkclean: the next write through any mapping must fault and
    // re-dirty the folio, or that write would never reach the disk.
    for (auto& [addr, pte] : pt_.ptes) {
      if (!pte.zero_page && pte.folio == fid) {
        pte.dirty = false;
        pte.writable = false;
      }
    }
  }
  return {};
}

Result<FolioId> System::alloc_page() {
  if (!try_alloc()) return Errc::kNoMem;
  FolioId id = new_folio(FolioKind::kDriver, 0);
  folios_[id].refcount = 1;
  folios_[id].pins = 1;
  return id;
}

Status System::put_page(FolioId id) {
  auto it = folios_.find(id);
  if (it == folios_.end() || it->second.pins == 0) return Errc::kInval;
  --it->second.pins;
  release_ref(id);
  return {};
}

std::optional<Vma> System::vma_lookup(Addr addr) const {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return std::nullopt;
  --it;
  if (!it->second.contains(addr)) return std::nullopt;
  return it->second;
}

bool System::is_mixedmap(Addr vma_addr) const {
  auto v = vma_lookup(vma_addr);
  return v && (v->flags & flags::kMixedMap);
}

std::optional<PageView> System::page(Addr addr) const {
  if (const Pte* p = pt_.pte(addr)) {
    return PageView{p->writable, p->dirty, p->young, p->zero_page, false,
                    p->folio, p->subpage};
  }
  if (const PmdLeaf* l = pt_.pmd_leaf(addr)) {
    auto sub = static_cast<std::uint32_t>((page_down(addr) - pmd_down(addr)) >>
                                          kPageShift);
    return PageView{l->writable, l->dirty, l->young, false, true, l->folio, sub};
  }
  return std::nullopt;
}

std::optional<PageBytes> System::peek(Addr addr) const {
  auto p = page(addr);
  if (!p) return std::nullopt;
  if (p->zero_page) return PageBytes{};
  return folios_.at(p->folio).pages.at(p->subpage);
}

Rss System::rss() const {
  Rss r;
  for (const auto& [addr, pte] : pt_.ptes) {
    if (pte.zero_page) continue;
    if (folios_.at(pte.folio).kind == FolioKind::kAnon) {
      ++r.anon;
    } else {
      ++r.file;
    }
  }
  r.anon += static_cast<std::int64_t>(pt_.pmd_leaves.size()) * kPagesPerPmd;
  return r;
}

TableCounts System::table_counts() const {
  return {pt_.nr_pte_tables(), pt_.nr_pmd_tables(), pt_.nr_pud_tables()};
}

std::vector<std::string> System::check_invariants() const {
  std::vector<std::string> out;
  auto fail = [&](auto&&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    out.push_back(os.str());
  };
  // VMAs (vma.h).
  Addr prev_end = 0;
  for (const auto& [key, v] : vmas_) {
    if (key != v.start) fail("vma keyed ", std::hex, key, " starts at ", v.start);
    if (!(v.start < v.end) || !page_aligned(v.start) || !page_aligned(v.end))
      fail("vma ", v, " is empty or unaligned");
    if (v.start < kMmapMinAddr || v.end > kTaskSize)
      fail("vma ", v, " outside user space");
    if (v.start < prev_end) fail("vma ", v, " overlaps its predecessor");
    if ((v.flags & flags::kMixedMap) && v.backing.kind != BackingKind::kDriver)
      fail("vma ", v, " has MIXEDMAP without driver backing");
    if ((v.flags & flags::kShared) && !(v.flags & flags::kMayShare))
      fail("vma ", v, " is SHARED without MAYSHARE");
    prev_end = v.end;
  }
  // Page table (page_table.h) and mappings inside VMAs.
  std::map<FolioId, std::uint32_t> mappings;
  for (const auto& [a, pte] : pt_.ptes) {
    if (!page_aligned(a)) fail("pte key ", std::hex, a, " unaligned");
    if (!pt_.pte_tables.contains(pmd_down(a)))
      fail("pte ", std::hex, a, " has no PTE table");
    if (!vma_lookup(a)) fail("pte ", std::hex, a, " outside every VMA");
    // mprotect write-protects what it takes VM_WRITE from, and a fault
    // makes an entry writable only in a VMA with VM_WRITE.
    else if (pte.writable && !(vma_lookup(a)->flags & flags::kWrite))
      fail("pte ", std::hex, a, " is writable in a VMA without VM_WRITE");
    if (pte.zero_page) continue;
    auto it = folios_.find(pte.folio);
    if (it == folios_.end()) {
      fail("pte ", std::hex, a, " maps missing folio ", std::dec, pte.folio);
    } else if (pte.subpage >= it->second.pages.size()) {
      fail("pte ", std::hex, a, " maps subpage past the folio");
    } else if (it->second.kind == FolioKind::kPageCache && (pte.writable || pte.dirty) &&
               !it->second.dirty && vma_lookup(a) &&
               vma_lookup(a)->backing.kind == BackingKind::kFile) {
      fail("pte ", std::hex, a, " is writable or dirty but its page-cache folio ", std::dec,
           pte.folio, " is clean");
    }
    ++mappings[pte.folio];
  }
  for (const auto& [a, leaf] : pt_.pmd_leaves) {
    if (!pmd_aligned(a)) fail("pmd leaf ", std::hex, a, " unaligned");
    if (pt_.pte_tables.contains(a)) fail("pmd ", std::hex, a, " is table and leaf");
    if (!pt_.pmd_tables.contains(pud_down(a)))
      fail("pmd leaf ", std::hex, a, " has no PMD table");
    auto v = vma_lookup(a);
    if (!v || v->end < a + kPmdSize) fail("pmd leaf ", std::hex, a, " not inside one VMA");
    auto it = folios_.find(leaf.folio);
    if (it == folios_.end() || it->second.order != 9)
      fail("pmd leaf ", std::hex, a, " does not map a 2 MiB folio");
    ++mappings[leaf.folio];
  }
  for (Addr b : pt_.pte_tables) {
    if (!pt_.pmd_tables.contains(pud_down(b)))
      fail("PTE table ", std::hex, b, " has no PMD table");
  }
  for (Addr b : pt_.pmd_tables) {
    if (!pt_.pud_tables.contains(pgd_down(b)))
      fail("PMD table ", std::hex, b, " has no PUD table");
  }
  // Folios (folio.h).
  for (const auto& [id, f] : folios_) {
    std::uint32_t cache = 0;
    if (f.kind == FolioKind::kPageCache) {
      auto fit = files_.find(f.file);
      if (fit == files_.end() || !fit->second.page_cache.contains(f.index) ||
          fit->second.page_cache.at(f.index) != id) {
        fail("folio ", id, " is not in its file's page cache");
      }
      cache = 1;
    }
    std::uint32_t expect = mappings[id] + cache + f.pins;
    if (f.refcount != expect)
      fail("folio ", id, " refcount ", f.refcount, " != mappings ", mappings[id],
           " + cache ", cache, " + pins ", f.pins);
    if (f.refcount == 0) fail("folio ", id, " exists with refcount 0");
    if (f.pages.size() != (std::size_t{1} << f.order) || (f.order != 0 && f.order != 9))
      fail("folio ", id, " has ", f.pages.size(), " pages at order ", f.order);
    if (f.kind == FolioKind::kAnon && (f.dirty || f.accessed))
      fail("anon folio ", id, " has dirty/accessed set");
  }
  // Files (file.h).
  for (const auto& [fid, file] : files_) {
    if (file.backing.size() != file.size_pages) fail("file ", fid, " size mismatch");
    for (const auto& [index, folio] : file.page_cache) {
      auto it = folios_.find(folio);
      if (it == folios_.end() || it->second.kind != FolioKind::kPageCache ||
          it->second.file != fid || it->second.index != index) {
        fail("file ", fid, " cache entry ", index, " names a wrong folio");
      }
    }
  }
  // Lifetime (SPEC.md section 1): nothing mapped once the users are gone.
  if (life() != LifeState::kLive &&
      (!vmas_.empty() || !pt_.ptes.empty() || !pt_.pmd_leaves.empty() ||
       table_counts() != TableCounts{})) {
    fail("torn-down mm still has VMAs, mappings or tables");
  }
  return out;
}

}  // namespace mmv::model
