// model::System: mmap, munmap, mprotect (SPEC.md section 3).
#include <algorithm>

#include "model/system.h"

namespace mmv::model {

bool System::range_free(Addr lo, Addr hi) const {
  auto it = vmas_.lower_bound(lo);
  if (it != vmas_.end() && it->second.start < hi) return false;
  if (it != vmas_.begin() && std::prev(it)->second.end > lo) return false;
  return true;
}

bool System::covered(Addr lo, Addr hi) const { return !range_free(lo, hi); }

std::optional<Addr> System::find_gap(Addr hint, std::uint64_t len) const {
  Addr h = (hint + kPageSize - 1) & ~(kPageSize - 1);
  if (hint != 0 && h >= hint && h >= kMmapMinAddr && h <= kTaskSize - len &&
      range_free(h, h + len)) {
    return h;
  }
  // Lowest gap at or above window_lo_ (legacy bottom-up layout).
  Addr candidate = window_lo_;
  auto it = vmas_.upper_bound(candidate);
  if (it != vmas_.begin() && std::prev(it)->second.end > candidate) {
    candidate = std::prev(it)->second.end;
  }
  for (; it != vmas_.end() && it->second.start < candidate + len; ++it) {
    candidate = std::max(candidate, it->second.end);
  }
  if (candidate > window_hi_ || window_hi_ - candidate < len) return std::nullopt;
  return candidate;
}

Result<Addr> System::mmap(const MmapRequest& req) {
  if (auto s = require_live(); !s.ok()) return s.error();
  if (req.length == 0) return Errc::kInval;
  std::uint64_t len;
  if (!page_round_up(req.length, &len)) return Errc::kNoMem;
  const Backing& b = req.backing;
  if (b.kind == BackingKind::kFile && b.pgoff + (len >> kPageShift) < b.pgoff)
    return Errc::kOverflow;
  if ((req.prot & ~flags::kProtMask) ||
      (req.advice & ~(flags::kHugePage | flags::kNoHugePage)) ||
      req.advice == (flags::kHugePage | flags::kNoHugePage) ||
      (!req.setup.empty() && b.kind != BackingKind::kDriver) ||
      (b.kind == BackingKind::kAnon && req.shared) ||
      (b.kind == BackingKind::kFile && !files_.contains(b.file))) {
    return Errc::kInval;
  }
  if (len > kTaskSize - kMmapMinAddr) return Errc::kNoMem;

  Addr addr;
  if (req.fixed) {
    if (req.addr > kTaskSize - len) return Errc::kNoMem;
    if (!page_aligned(req.addr)) return Errc::kInval;
    if (req.addr < kMmapMinAddr) return Errc::kPerm;
    if (!range_free(req.addr, req.addr + len)) return Errc::kExist;
    addr = req.addr;
  } else {
    auto gap = find_gap(req.addr, len);
    if (!gap) return Errc::kNoMem;
    addr = *gap;
  }

  VmFlags f = req.prot | flags::kMayRead | flags::kMayWrite | flags::kMayExec;
  if (req.shared) f |= flags::kShared | flags::kMayShare;
  // Private writable memory is charged against overcommit (accountable_
  // mapping). The flag outlives a later mprotect to read-only, and since it
  // is part of the flags it decides which neighbours merge.
  if (!req.shared && (req.prot & flags::kWrite)) f |= flags::kAccount;
  // The kernel allocates the VMA before it calls the driver's mmap handler.
  if (!try_alloc()) return Errc::kNoMem;
  VmaNew setup(f);
  for (VmaNewOp op : req.setup) {
    if (auto s = setup.apply(op); !s.ok()) return s.error();
  }
  Vma v{addr, addr + len, setup.flags(), b};
  if (b.kind != BackingKind::kFile) v.backing.pgoff = 0;
  vmas_[addr] = v;
  merge_around(addr);
  // HUGEPAGE / NOHUGEPAGE come from madvise() of the mapped range, as only
  // it sets them: after the mapping was made, and merged, by mmap. So the
  // new range may first join a neighbour (and share its anon_vma) and then
  // be split off it again (found by the linux side: docs/linux.md).
  if (req.advice) {
    const Vma merged = vma_lookup(addr).value();
    const VmFlags advised = (merged.flags & ~(flags::kHugePage | flags::kNoHugePage)) | req.advice;
    if (advised != merged.flags) modify_flags(addr, addr + len, advised);
  }
  return addr;
}

void System::merge_around(Addr start) {
  // `keep` takes over the range of the area right after it.
  auto absorb = [this](auto keep, auto drop) {
    keep->second.end = drop->second.end;
    if (keep->second.anon_vma == 0) keep->second.anon_vma = drop->second.anon_vma;
    vmas_.erase(drop);
  };
  auto it = vmas_.find(start);
  // The area just made or changed joins a neighbour: under Linux 6.12's
  // rule, not when it has an anon_vma and the neighbour none (KernelRules).
  const bool faulted = it->second.anon_vma != 0;
  auto may_join = [&](const Vma& neighbour) {
    return rules_.merge_anon_vma_into_unfaulted || !faulted || neighbour.anon_vma != 0;
  };
  if (it != vmas_.begin() && vmas_mergeable(std::prev(it)->second, it->second) &&
      may_join(std::prev(it)->second)) {
    auto prev = std::prev(it);
    absorb(prev, it);
    it = prev;
  }
  if (auto next = std::next(it);
      next != vmas_.end() && vmas_mergeable(it->second, next->second) && may_join(next->second))
    absorb(it, next);
}

void System::modify_flags(Addr lo, Addr hi, VmFlags f) {
  split_vma_at(lo);
  split_vma_at(hi);
  vmas_.at(lo).flags = f;
  merge_around(lo);
}

int System::splits_needed(Addr lo, Addr hi) const {
  int n = 0;
  for (Addr at : {lo, hi}) {
    auto v = vma_lookup(at);
    if (v && v->start < at) ++n;
  }
  return n;
}

void System::split_vma_at(Addr at) {
  auto v = vma_lookup(at);
  if (!v || v->start == at) return;
  Vma tail = *v;
  tail.start = at;
  if (tail.backing.kind == BackingKind::kFile) {
    tail.backing.pgoff += (at - v->start) >> kPageShift;
  }
  vmas_[v->start].end = at;
  vmas_[at] = tail;
  // A THP mapped across the new boundary is remapped with PTEs, so that
  // each side can be changed on its own (vma_adjust_trans_huge).
  if (!pmd_aligned(at) && pt_.pmd_leaf(at)) split_pmd(pmd_down(at));
}

Status System::munmap(Addr addr, std::uint64_t len) {
  if (auto s = require_live(); !s.ok()) return s.error();
  if (!page_aligned(addr) || addr > kTaskSize || len > kTaskSize - addr)
    return Errc::kInval;
  std::uint64_t rounded;
  if (!page_round_up(len, &rounded) || rounded == 0) return Errc::kInval;
  const Addr lo = addr, hi = addr + rounded;
  if (splits_needed(lo, hi) > 0 && !try_alloc()) return Errc::kNoMem;
  split_vma_at(lo);
  split_vma_at(hi);
  for (auto it = vmas_.lower_bound(lo); it != vmas_.end() && it->second.start < hi;) {
    zap_range(it->second.start, it->second.end);
    it = vmas_.erase(it);
  }
  pt_.free_uncovered([this](Addr l, Addr h) { return covered(l, h); });
  return {};
}

Status System::mprotect(Addr addr, std::uint64_t len, VmFlags prot) {
  if (auto s = require_live(); !s.ok()) return s.error();
  if (!page_aligned(addr)) return Errc::kInval;
  if (len == 0) return {};
  std::uint64_t rounded;
  if (!page_round_up(len, &rounded) || addr + rounded <= addr) return Errc::kNoMem;
  if (prot & ~flags::kProtMask) return Errc::kInval;
  const Addr lo = addr, hi = addr + rounded;

  Addr done = lo;  // everything in [lo, done) has been changed
  while (done < hi) {
    auto it = vmas_.upper_bound(done);
    if (it != vmas_.begin() && std::prev(it)->second.end > done) --it;
    if (it == vmas_.end() || it->second.start >= hi) break;
    if (it->second.start > done) return Errc::kNoMem;  // a hole
    const Vma v = it->second;
    VmFlags newflags = (v.flags & ~flags::kProtMask) | prot;
    // mprotect_fixup starts charging a private area the first time it
    // becomes writable, and gives the charge back when an anonymous area
    // that never held an anonymous page (no anon_vma) stops being writable:
    // nothing else clears the flag. (The linux side found the second rule,
    // which this model lacked: docs/linux.md.)
    if ((newflags & flags::kWrite) &&
        !(v.flags & (flags::kAccount | flags::kWrite | flags::kShared | flags::kNoReserve))) {
      newflags |= flags::kAccount;
    } else if (!(newflags & flags::kWrite) && (v.flags & flags::kAccount) &&
               v.backing.kind == BackingKind::kAnon && v.anon_vma == 0) {
      newflags &= ~flags::kAccount;
    }
    // Each MAY* bit sits 4 above its access bit.
    if ((newflags & ~(newflags >> 4)) & flags::kAccessMask) return Errc::kAccess;
    const Addr nlo = std::max(v.start, done), nhi = std::min(v.end, hi);
    if (newflags != v.flags) {
      if ((v.start < nlo || nhi < v.end) && !try_alloc()) return Errc::kNoMem;
      modify_flags(nlo, nhi, newflags);
      if (!(newflags & flags::kWrite)) {
        for (auto p = pt_.ptes.lower_bound(nlo); p != pt_.ptes.end() && p->first < nhi; ++p)
          p->second.writable = false;
        for (auto p = pt_.pmd_leaves.lower_bound(nlo);
             p != pt_.pmd_leaves.end() && p->first < nhi; ++p)
          p->second.writable = false;
      }
    }
    done = nhi;
  }
  if (done < hi) return Errc::kNoMem;
  return {};
}

}  // namespace mmv::model
