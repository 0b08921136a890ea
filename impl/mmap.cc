// MmWithUser: mmap, munmap, mprotect and the VMA set they change (SPEC.md
// section 3), rule for rule as model/mmap.cc, plus the locking: the mmap
// write lock around each call, a VMA write lock before each VMA changes, and
// a new RCU snapshot of the VMA set before the mmap lock is released.
#include <algorithm>

#include "impl/fault_switch.h"
#include "impl/mm.h"
#include "impl/mmu_gather.h"

namespace mmv::impl {
namespace {

// Removed VMAs and old snapshots are freed in batches, not one grace period
// per system call.
constexpr std::size_t kReclaimBatch = 64;

}  // namespace

VmaRef* VmaSnapshot::find(Addr a) const {
  auto it = std::upper_bound(entries.begin(), entries.end(), a,
                             [](Addr x, const Entry& e) { return x < e.start; });
  if (it == entries.begin()) return nullptr;
  --it;
  return a < it->end ? it->vma : nullptr;
}

VmaRef* Mm::find_vma(Addr a) const {
  auto it = vmas_.upper_bound(a);
  if (it == vmas_.begin()) return nullptr;
  --it;
  return it->second->contains(a) ? it->second : nullptr;
}

bool Mm::range_free(Addr lo, Addr hi) const {
  auto it = vmas_.lower_bound(lo);
  if (it != vmas_.end() && it->second->start_ < hi) return false;
  if (it != vmas_.begin() && std::prev(it)->second->end_ > lo) return false;
  return true;
}

bool Mm::covered(Addr lo, Addr hi) const { return !range_free(lo, hi); }

std::optional<Addr> Mm::find_gap(Addr hint, std::uint64_t len) const {
  Addr h = (hint + kPageSize - 1) & ~(kPageSize - 1);
  if (hint != 0 && h >= hint && h >= kMmapMinAddr && h <= kTaskSize - len &&
      range_free(h, h + len)) {
    return h;
  }
  Addr candidate = window_lo_;
  auto it = vmas_.upper_bound(candidate);
  if (it != vmas_.begin() && std::prev(it)->second->end_ > candidate)
    candidate = std::prev(it)->second->end_;
  for (; it != vmas_.end() && it->second->start_ < candidate + len; ++it)
    candidate = std::max(candidate, it->second->end_);
  if (candidate > window_hi_ || window_hi_ - candidate < len) return std::nullopt;
  return candidate;
}

void Mm::vma_start_write(VmaRef& v) {
  const std::uint64_t seq = mmap_lock_.seq();
  if (v.vm_lock_seq_.load(std::memory_order_relaxed) == seq) return;
  // Waits for the VMA's readers to leave; later ones see the new sequence
  // number and back off until the mmap write lock is released.
  v.lock_.lock();
  v.vm_lock_seq_.store(seq, std::memory_order_release);
  v.lock_.unlock();
}

void Mm::insert_vma(VmaRef* v) {
  // Born write-locked: no reader may lock it before this writer is done.
  v->vm_lock_seq_.store(mmap_lock_.seq(), std::memory_order_release);
  v->detached_.store(false, std::memory_order_release);
  vmas_[v->start_] = v;
}

void Mm::remove_vma(VmaRef* v) {
  vma_start_write(*v);
  v->detached_.store(true, std::memory_order_release);
  vmas_.erase(v->start_);
  removed_.push_back(v);
}

void Mm::publish_vmas() {
  auto* snap = new VmaSnapshot;
  // Test-only fault (impl/fault_switch.h): the snapshot is published before
  // it is filled in.
  const bool early = fault_active(Fault::kPublishBeforeInit);
  const VmaSnapshot* old = early ? rcu_vmas_.exchange(snap, std::memory_order_acq_rel) : nullptr;
  snap->entries.reserve(vmas_.size());
  for (const auto& [start, v] : vmas_) snap->entries.push_back({v->start_, v->end_, v});
  if (!early) old = rcu_vmas_.exchange(snap, std::memory_order_acq_rel);
  // Test-only fault (impl/fault_switch.h): the old snapshot is freed at
  // once, under readers that may still be walking it.
  if (fault_active(Fault::kSnapshotFreedWithoutRcu)) delete old;
  else rcu::retire_delete(old);
  for (VmaRef* v : removed_) rcu::retire_delete(static_cast<VmaMixedMap*>(v));
  removed_.clear();
}

int Mm::splits_needed(Addr lo, Addr hi) const {
  int n = 0;
  for (Addr at : {lo, hi}) {
    VmaRef* v = find_vma(at);
    if (v && v->start_ < at) ++n;
  }
  return n;
}

void Mm::split_vma_at(Addr at) {
  VmaRef* v = find_vma(at);
  if (!v || v->start_ == at) return;
  vma_start_write(*v);
  Backing tail_backing = v->backing_;
  if (tail_backing.kind == BackingKind::kFile) tail_backing.pgoff += (at - v->start_) >> kPageShift;
  auto* tail = new VmaMixedMap(static_cast<MmWithUser*>(this), at, v->end_, v->flags_, tail_backing);
  tail->anon_vma_.store(v->anon_vma(), std::memory_order_release);
  v->end_ = at;
  insert_vma(tail);
  // A THP mapped across the new boundary is remapped with PTEs, so that
  // each side can be changed on its own (vma_adjust_trans_huge).
  if (!pmd_aligned(at) && pt_.pmd(at).is_leaf()) split_pmd(pmd_down(at));
}

void Mm::modify_flags(Addr lo, Addr hi, VmFlags f) {
  split_vma_at(lo);
  split_vma_at(hi);
  VmaRef* target = vmas_.at(lo);
  // Test-only fault (impl/fault_switch.h).
  if (!fault_active(Fault::kVmaChangedWithoutWriteLock)) vma_start_write(*target);
  target->flags_ = f;
  merge_around(target);
}

void Mm::merge_around(VmaRef* v) {
  // `keep` takes over the range of the area right after it.
  auto absorb = [this](VmaRef* keep, VmaRef* drop) MMV_REQUIRES(mmap_lock_) {
    vma_start_write(*keep);
    vma_start_write(*drop);
    keep->end_ = drop->end_;
    if (keep->anon_vma() == 0) keep->anon_vma_.store(drop->anon_vma(), std::memory_order_release);
    remove_vma(drop);
  };
  auto it = vmas_.find(v->start_);
  if (it != vmas_.begin()) {
    VmaRef* prev = std::prev(it)->second;
    if (vmas_mergeable(prev->as_vma(), v->as_vma())) {
      absorb(prev, v);
      v = prev;
    }
  }
  auto next = vmas_.upper_bound(v->start_);
  if (next != vmas_.end() && vmas_mergeable(v->as_vma(), next->second->as_vma()))
    absorb(v, next->second);
}

void Mm::free_pgtables(Addr lo, Addr hi) {
  // A copy of the VMA ranges: the page-table walk below cannot carry the
  // mmap lock's capability into its callback for Clang to check.
  std::vector<std::pair<Addr, Addr>> ranges;
  for (const auto& [start, v] : vmas_) ranges.emplace_back(v->start_, v->end_);
  pt_.free_uncovered(pgd_down(lo), hi, [&ranges](Addr l, Addr h) {
    auto it = std::lower_bound(ranges.begin(), ranges.end(), std::make_pair(h, Addr{0}));
    return it != ranges.begin() && std::prev(it)->second > l;
  });
}

Result<Addr> MmWithUser::mmap(const MmapRequest& req) {
  if (req.length == 0) return Errc::kInval;
  std::uint64_t len;
  if (!page_round_up(req.length, &len)) return Errc::kNoMem;
  const Backing& b = req.backing;
  if (b.kind == BackingKind::kFile && b.pgoff + (len >> kPageShift) < b.pgoff)
    return Errc::kOverflow;
  File* file = b.kind == BackingKind::kFile ? kernel_.file(b.file) : nullptr;
  if ((req.prot & ~flags::kProtMask) ||
      (req.advice & ~(flags::kHugePage | flags::kNoHugePage)) ||
      req.advice == (flags::kHugePage | flags::kNoHugePage) ||
      (!req.setup.empty() && b.kind != BackingKind::kDriver) ||
      (b.kind == BackingKind::kAnon && req.shared) || (b.kind == BackingKind::kFile && !file)) {
    return Errc::kInval;
  }
  if (len > kTaskSize - kMmapMinAddr) return Errc::kNoMem;
  Result<Addr> r = Errc::kInval;
  {
    MmapWriteGuard g(*this);
    r = mmap_locked(req, len, file);
    publish_vmas();
  }
  rcu::reclaim(kReclaimBatch);
  return r;
}

Result<Addr> Mm::mmap_locked(const MmapRequest& req, std::uint64_t len, File* file) {
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
  // Private writable memory is charged against overcommit (see model/mmap.cc).
  if (!req.shared && (req.prot & flags::kWrite)) f |= flags::kAccount;
  // The kernel allocates the VMA before it calls the driver's mmap handler.
  if (!kernel_.try_alloc()) return Errc::kNoMem;
  VmaNew setup(f);
  for (VmaNewOp op : req.setup) {
    if (auto s = setup.apply(op); !s.ok()) return s.error();
  }
  Backing backing = req.backing;
  if (backing.kind != BackingKind::kFile) backing.pgoff = 0;
  auto* v = new VmaMixedMap(static_cast<MmWithUser*>(this), addr, addr + len, setup.flags(),
                            backing);
  insert_vma(v);
  if (file && mapped_files_.insert(file).second) file->add_mapper(*this);
  merge_around(v);
  // HUGEPAGE / NOHUGEPAGE: madvise() of the range once it is mapped (and
  // merged), as in model::System::mmap.
  if (req.advice) {
    VmaRef* merged = std::prev(vmas_.upper_bound(addr))->second;
    const VmFlags advised = (merged->flags_ & ~(flags::kHugePage | flags::kNoHugePage)) | req.advice;
    if (advised != merged->flags_) modify_flags(addr, addr + len, advised);
  }
  return addr;
}

Status MmWithUser::munmap(Addr addr, std::uint64_t len) {
  if (!page_aligned(addr) || addr > kTaskSize || len > kTaskSize - addr) return Errc::kInval;
  std::uint64_t rounded;
  if (!page_round_up(len, &rounded) || rounded == 0) return Errc::kInval;
  Status s;
  {
    MmapWriteGuard g(*this);
    s = munmap_locked(addr, addr + rounded);
    publish_vmas();
  }
  rcu::reclaim(kReclaimBatch);
  return s;
}

Status Mm::munmap_locked(Addr lo, Addr hi) {
  if (splits_needed(lo, hi) > 0 && !kernel_.try_alloc()) return Errc::kNoMem;
  split_vma_at(lo);
  split_vma_at(hi);
  {
    MmuGather tlb(*this);
    // Test-only fault (impl/fault_switch.h).
    if (fault_active(Fault::kMunmapSkipsShootdown)) tlb.skip_shootdown();
    for (auto it = vmas_.lower_bound(lo); it != vmas_.end() && it->second->start_ < hi;) {
      VmaRef* v = it->second;
      ++it;
      vma_start_write(*v);
      zap_range(v->start_, v->end_, tlb);
      remove_vma(v);
    }
  }
  free_pgtables(lo, hi);
  return {};
}

Status MmWithUser::mprotect(Addr addr, std::uint64_t len, VmFlags prot) {
  if (!page_aligned(addr)) return Errc::kInval;
  if (len == 0) return {};
  std::uint64_t rounded;
  if (!page_round_up(len, &rounded) || addr + rounded <= addr) return Errc::kNoMem;
  if (prot & ~flags::kProtMask) return Errc::kInval;
  Status s;
  {
    MmapWriteGuard g(*this);
    s = mprotect_locked(addr, addr + rounded, prot);
    publish_vmas();
  }
  rcu::reclaim(kReclaimBatch);
  return s;
}

Status Mm::mprotect_locked(Addr lo, Addr hi, VmFlags prot) {
  Addr done = lo;  // everything in [lo, done) has been changed
  while (done < hi) {
    auto it = vmas_.upper_bound(done);
    if (it != vmas_.begin() && std::prev(it)->second->end_ > done) --it;
    if (it == vmas_.end() || it->second->start_ >= hi) break;
    VmaRef* v = it->second;
    if (v->start_ > done) return Errc::kNoMem;  // a hole
    VmFlags newflags = (v->flags_ & ~flags::kProtMask) | prot;
    if ((newflags & flags::kWrite) &&
        !(v->flags_ & (flags::kAccount | flags::kWrite | flags::kShared | flags::kNoReserve))) {
      newflags |= flags::kAccount;
    } else if (!(newflags & flags::kWrite) && (v->flags_ & flags::kAccount) &&
               v->backing_.kind == BackingKind::kAnon) {
      // The charge goes back only while no anonymous page was ever mapped
      // (no anon_vma). A fault under the VMA lock may be setting it now:
      // decide with the VMA write-locked. Test-only fault
      // (impl/fault_switch.h): no write lock here either.
      if (!fault_active(Fault::kVmaChangedWithoutWriteLock)) vma_start_write(*v);
      if (v->anon_vma() == 0) newflags &= ~flags::kAccount;
    }
    // Each MAY* bit sits 4 above its access bit.
    if ((newflags & ~(newflags >> 4)) & flags::kAccessMask) return Errc::kAccess;
    const Addr nlo = std::max(v->start_, done), nhi = std::min(v->end_, hi);
    // Access the range loses: translations cached with it must go.
    const VmFlags lost = v->flags_ & ~newflags & flags::kAccessMask;
    if (newflags != v->flags_) {
      if ((v->start_ < nlo || nhi < v->end_) && !kernel_.try_alloc()) return Errc::kNoMem;
      modify_flags(nlo, nhi, newflags);
      if (!(newflags & flags::kWrite)) write_protect(nlo, nhi);
      // Test-only fault (impl/fault_switch.h): no shootdown.
      if (lost && !fault_active(Fault::kMprotectSkipsShootdown)) flush_tlb(nlo, nhi);
    }
    done = nhi;
  }
  if (done < hi) return Errc::kNoMem;
  return {};
}

void Mm::write_protect(Addr lo, Addr hi) {
  for (Addr b = pmd_down(lo); b < hi; b += kPmdSize) {
    PmdTable* pmd = pt_.pmd_table(b);
    if (!pmd) continue;
    const unsigned i = pmd_index(b);
    if (pmd->get(i).none()) continue;
    if (pmd->get(i).is_leaf()) {
      if (b < lo) continue;  // a leaf is write-protected with its own VMA
      MutexLock g(pmd->lock());
      const Pmd e = pmd->get(i);
      if (e.is_leaf() && e.writable()) {
        pmd->set(i, e.without(Pmd::kWritable));
      }
      continue;
    }
    PteTable* t = pmd->get(i).pte_table();
    const Addr from = std::max(lo, b), to = std::min(hi, b + kPmdSize);
    MutexLock g(t->ptl());
    for (Addr a = from; a < to; a += kPageSize) {
      const Pte p = t->get(pte_index(a));
      if (!p.none() && p.writable()) {
        t->set(pte_index(a), p.without(Pte::kWritable));
      }
    }
  }
}

}  // namespace mmv::impl
