#include "impl/file.h"

#include "impl/fault_switch.h"
#include "impl/kernel.h"
#include "impl/mm.h"

namespace mmv::impl {

bool File::ByCreation::operator()(const Mm* a, const Mm* b) const { return a->creation_seq() < b->creation_seq(); }

File::File(Kernel& kernel, FileId id, std::vector<PageBytes> contents)
    : kernel_(kernel), id_(id), size_pages_(contents.size()), backing_(std::move(contents)) {}

File::~File() {
  MutexLock g(cache_lock_);
  for (auto& [index, f] : cache_) f->put();
}

Folio* File::find_folio(std::uint64_t index) {
  MutexLock g(cache_lock_);
  auto it = cache_.find(index);
  return it == cache_.end() ? nullptr : it->second;
}

Folio* File::find_or_read_folio(std::uint64_t index) {
  MutexLock g(cache_lock_);
  Folio*& slot = cache_[index];
  if (!slot) {
    slot = kernel_.new_folio(FolioKind::kPageCache, 0, 1);  // the cache's reference
    slot->set_cache_slot(id_, index);
    slot->page(0).set_bytes(backing_.at(index));
  }
  return slot;
}

void File::populate_cache() {
  for (std::uint64_t i = 0; i < size_pages_; ++i) (void)find_or_read_folio(i);
}

PageBytes File::read_page(std::uint64_t index) {
  MutexLock g(cache_lock_);
  auto it = cache_.find(index);
  if (it != cache_.end()) return it->second->page(0).bytes();
  return backing_.at(index);
}

PageBytes File::disk_page(std::uint64_t index) {
  MutexLock g(cache_lock_);
  return backing_.at(index);
}

std::vector<std::pair<std::uint64_t, Folio*>> File::cached() {
  MutexLock g(cache_lock_);
  return {cache_.begin(), cache_.end()};
}

void File::add_mapper(Mm& mm) {
  MutexLock g(mappers_lock_);
  mappers_.insert(&mm);
}

void File::remove_mapper(Mm& mm) {
  MutexLock g(mappers_lock_);
  mappers_.erase(&mm);
}

void File::writeback() {
  MutexLock one_at_a_time(writeback_lock_);
  std::vector<std::pair<std::uint64_t, Folio*>> dirty;
  {
    MutexLock g(cache_lock_);
    for (auto& [index, f] : cache_)
      if (f->dirty()) dirty.emplace_back(index, f);
  }
  if (dirty.empty()) return;
  std::vector<Mm*> mms;
  {
    MutexLock g(mappers_lock_);
    for (Mm* mm : mappers_) {
      // An mm leaves mappers_ in exit_mmap, before its users' mm_count
      // reference goes, so it is alive here; the grab keeps it so.
      mm->mmgrab();
      mms.push_back(mm);
    }
  }
  for (auto& [index, f] : dirty) {
    // Clear dirty, then write-protect, then copy. A store before the
    // write-protection is in the copy; a store after it faults and dirties
    // the folio again. (Write-protecting first would let a write fault in
    // between make the PTE writable and then lose its dirty mark to the
    // clear, and later stores would never fault.)
    // Test-only fault (impl/fault_switch.h): write-protect, then clear.
    if (fault_active(Fault::kWritebackProtectFirst)) {
      for (Mm* mm : mms) mm->mkclean(*this, *f);
      if (!f->test_and_clear_dirty()) continue;
    } else {
      if (!f->test_and_clear_dirty()) continue;
      for (Mm* mm : mms) mm->mkclean(*this, *f);
    }
    MutexLock g(cache_lock_);
    backing_.at(index) = f->page(0).bytes();
  }
  for (Mm* mm : mms) mm->mmdrop();
}

void Mm::mkclean(File& file, Folio& folio) {
  MmapReadGuard g(static_cast<MmWithUser&>(*this));
  mmap_lock_.assert_held_shared();
  for (const auto& [start, v] : vmas_) {
    if (v->backing_.kind != BackingKind::kFile || v->backing_.file != file.id()) continue;
    const std::uint64_t first = v->backing_.pgoff;
    const std::uint64_t pages = (v->end_ - v->start_) >> kPageShift;
    if (folio.index() < first || folio.index() - first >= pages) continue;
    const Addr a = v->start_ + ((folio.index() - first) << kPageShift);
    PteTable* t = pt_.pte_table(a);
    if (!t) continue;
    {
      MutexLock pl(t->ptl());
      const Pte p = t->get(pte_index(a));
      if (p.none() || p.page() != &folio.page(0) || !(p.writable() || p.dirty())) continue;
      t->set(pte_index(a), p.without(Pte::kWritable | Pte::kDirty));
    }
    // A CPU whose TLB still maps the page writable would store without a
    // fault, and the folio would stay clean.
    // Test-only fault (impl/fault_switch.h): no shootdown.
    if (!fault_active(Fault::kMkcleanSkipsShootdown)) flush_tlb(a, a + kPageSize);
  }
}

}  // namespace mmv::impl
