// model::System: zap_page_range_single, vm_insert_page, and the leaf-clearing
// shared with munmap and exit_mmap (SPEC.md sections 3 and 5).
#include "model/system.h"

namespace mmv::model {

Result<ZapOutcome> System::zap_page_range_single(Addr vma_addr, Addr address,
                                                 std::uint64_t size) {
  if (auto s = require_live(); !s.ok()) return s.error();
  auto v = vma_lookup(vma_addr);
  if (!v) return Errc::kNoVma;
  // The Rust wrapper's checks: a silent return, which we count.
  if (address + size < address || address < v->start || address + size > v->end) {
    ++zap_rejections_;
    return ZapOutcome::kRejected;
  }
  if (size == 0) return ZapOutcome::kZapped;
  // Every page that intersects [address, address + size). Both ends stay
  // inside the VMA because its bounds are page-aligned.
  zap_range(page_down(address), page_down(address + size - 1) + kPageSize);
  return ZapOutcome::kZapped;
}

void System::zap_range(Addr lo, Addr hi) {
  // PMD leaves: removed whole when covered, split to PTEs when cut.
  for (Addr b = pmd_down(lo); b < hi; b += kPmdSize) {
    auto it = pt_.pmd_leaves.find(b);
    if (it == pt_.pmd_leaves.end()) continue;
    if (b >= lo && b + kPmdSize <= hi) {
      FolioId id = it->second.folio;
      pt_.pmd_leaves.erase(it);
      release_ref(id);
    } else {
      split_pmd(b);
    }
  }
  for (auto it = pt_.ptes.lower_bound(lo); it != pt_.ptes.end() && it->first < hi;) {
    Addr a = it->first;
    ++it;
    zap_pte(a);
  }
  // The page tables themselves stay: that is munmap's job, not zap's.
}

void System::zap_pte(Addr addr) {
  auto it = pt_.ptes.find(addr);
  const Pte pte = it->second;
  pt_.ptes.erase(it);
  if (pte.zero_page) return;
  Folio& f = folios_.at(pte.folio);
  if (f.kind != FolioKind::kAnon) {
    // The data must still reach the disk, and reclaim must see the use.
    if (pte.dirty) f.dirty = true;
    if (pte.young) f.accessed = true;
  }
  release_ref(pte.folio);
}

void System::split_pmd(Addr block) {
  auto it = pt_.pmd_leaves.find(block);
  const PmdLeaf leaf = it->second;
  pt_.pmd_leaves.erase(it);
  pt_.pte_tables.insert(block);  // the table reserved with the THP
  for (std::uint32_t i = 0; i < kPagesPerPmd; ++i) {
    pt_.ptes[block + (Addr{i} << kPageShift)] =
        Pte{leaf.writable, leaf.dirty, leaf.young, false, leaf.folio, i};
  }
  folios_.at(leaf.folio).refcount += kPagesPerPmd - 1;
}

Status System::vm_insert_page(Addr vma_addr, Addr addr, FolioId page) {
  if (auto s = require_live(); !s.ok()) return s;
  auto v = vma_lookup(vma_addr);
  if (!v || !(v->flags & flags::kMixedMap)) return Errc::kNoVma;
  if (!v->contains(addr)) return Errc::kFault;
  auto fit = folios_.find(page);
  if (fit == folios_.end() || fit->second.kind == FolioKind::kAnon)
    return Errc::kInval;
  if (pt_.missing_tables(addr, false) > 0) {
    if (!try_alloc()) return Errc::kNoMem;
    pt_.add_tables(addr, false);
  }
  if (pt_.ptes.contains(page_down(addr))) return Errc::kBusy;
  // vma->vm_page_prot: writable only in a shared writable VMA; a private
  // one copies on the first write.
  const bool writable = (v->flags & flags::kWrite) && v->is_shared();
  map_pte(addr, Pte{writable, false, false, false, page, 0});
  return {};
}

}  // namespace mmv::model
