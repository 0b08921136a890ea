// File: a regular file of fixed size with a backing store ("the disk") and a
// page cache of folios, plus the set of mms that map it (the kernel's
// i_mmap, kept per mm rather than per VMA), which writeback walks to
// write-protect and clean the PTEs of each folio it writes.
//
// Thread safety:
//  - cache_ and backing_ are guarded by cache_lock_ (the kernel's i_pages
//    lock). A page-cache folio never leaves the cache (there is no
//    truncation or reclaim), so a Folio* found there stays valid for the
//    life of the File.
//  - mappers_ is guarded by mappers_lock_; writeback_lock_ makes writebacks
//    of one file run one at a time. Lock order (impl/lockdep.h):
//    writeback -> mmap -> file mappings ... -> page cache.
//
// Invariants:
//  1. backing_.size() == size_pages().
//  2. cache_[i] is a kPageCache folio with file() == id() and index() == i,
//     holding one reference for the cache.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "impl/folio.h"
#include "impl/mutex.h"
#include "model/page_bytes.h"

namespace mmv::impl {

class Kernel;
class Mm;

class File {
 public:
  File(Kernel& kernel, FileId id, std::vector<PageBytes> contents);
  ~File();  // drops the cache's folio references
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  FileId id() const { return id_; }
  std::uint64_t size_pages() const { return size_pages_; }

  // The cached folio for page `index`, or null.
  Folio* find_folio(std::uint64_t index) MMV_EXCLUDES(cache_lock_);
  // The cached folio, read from the backing store into a new folio if
  // absent. The caller has already passed the allocation gate.
  Folio* find_or_read_folio(std::uint64_t index) MMV_EXCLUDES(cache_lock_);
  // Fills the whole cache (a file just written with write(2)).
  void populate_cache() MMV_EXCLUDES(cache_lock_);

  PageBytes read_page(std::uint64_t index) MMV_EXCLUDES(cache_lock_);  // read(2)
  PageBytes disk_page(std::uint64_t index) MMV_EXCLUDES(cache_lock_);

  // Writes every dirty cached folio to the backing store: clears its dirty
  // bit, write-protects and cleans every PTE mapping it (folio_mkclean, in
  // each mm of mappers_), then copies it. A store through a mapping after
  // the mkclean faults and dirties the folio again, so it is caught by the
  // next writeback: nothing written is lost.
  // REQUIRES: no mmap lock held by the caller.
  void writeback() MMV_EXCLUDES(writeback_lock_, mappers_lock_, cache_lock_);

  // Registers / unregisters an mm that maps this file (at its first file
  // mmap, and in its exit_mmap). Registration holds no reference: the mm
  // unregisters itself before its users' mm_count reference is dropped.
  void add_mapper(Mm& mm) MMV_EXCLUDES(mappers_lock_);
  void remove_mapper(Mm& mm) MMV_EXCLUDES(mappers_lock_);

  // For observation of a quiescent system: (index, folio) pairs.
  std::vector<std::pair<std::uint64_t, Folio*>> cached() MMV_EXCLUDES(cache_lock_);

 private:
  Kernel& kernel_;
  const FileId id_;
  const std::uint64_t size_pages_;
  Mutex writeback_lock_{lockdep::LockClass::kWriteback};
  Mutex mappers_lock_{lockdep::LockClass::kFileMappings};
  // By creation, not by address: under ASan the allocator places two mms
  // in either order from one process to the next, and a walk in address
  // order made a scheduled run's replay take its locks in another order.
  struct ByCreation {
    bool operator()(const Mm* a, const Mm* b) const;
  };
  std::set<Mm*, ByCreation> mappers_ MMV_GUARDED_BY(mappers_lock_);
  Mutex cache_lock_{lockdep::LockClass::kPageCache};
  std::map<std::uint64_t, Folio*> cache_ MMV_GUARDED_BY(cache_lock_);
  std::vector<PageBytes> backing_ MMV_GUARDED_BY(cache_lock_);
};

}  // namespace mmv::impl
