// model::System: the reference model. One address space (its lifetime
// counters, VMAs and page table) together with the files and folios it can
// reach, as a plain sequential value type: copyable, comparable with ==,
// printable (model/describe.h). Locks do not exist here; this is the
// sequential truth that impl/ is checked against. See ../shared/SPEC.md.
//
// Every operation returns a result or a specific error, and an operation
// that fails changes nothing -- with exceptions taken from the kernel:
// mprotect applies itself VMA by VMA and stops at the first hole, forbidden
// protection or failed split, keeping the changes made before it (ENOMEM /
// EACCES). The kernel oracle (model/oracle/) holds the model to that. A
// read fault's fault-around keeps what it mapped if the page itself then
// fails (fault_around). A store beyond the end of a private file mapping
// gets its SIGBUS after do_cow_fault prepared the area's anon_vma, which
// stays (found by the linux side, docs/linux.md). populate
// (MADV_POPULATE_WRITE) keeps the pages it faulted in before the page that
// failed, as the kernel does (measured on the host kernel).
//
// Choices where the kernel depends on configuration (written down here, as
// SPEC.md asks):
//  - VMAs merge like the kernel's (vma_merge_new_range / vma_modify): after
//    mmap inserts an area and after mprotect changes one, it is merged with
//    its neighbours where vmas_mergeable() (vma.h) allows. munmap never
//    merges. Merging is visible to user space through fault-around, whose
//    window is clamped to the VMA, and to VmaRef users through start/end.
//  - mmap with `fixed` has MAP_FIXED_NOREPLACE semantics (EEXIST on overlap);
//    without it, the hint is used if free, else the lowest free gap at or
//    above the mm's window start (legacy bottom-up layout).
//  - Shared anonymous memory (shmem) is not modelled: EINVAL.
//  - THP: a fault on an empty PMD slot of a private anonymous VMA with
//    HUGEPAGE (not NOHUGEPAGE), whose aligned 2 MiB block lies inside the
//    VMA, maps a fresh zeroed 2 MiB folio with one PMD entry, for reads and
//    writes alike (the kernel with use_zero_page=0). If the THP cannot be
//    allocated the fault falls back to a 4 KiB page, as the kernel does.
//    The PTE table that splitting that PMD needs is reserved with the THP
//    (the kernel deposits it), so a split never fails; table counts only
//    count tables linked into the tree.
//  - Fault-around (the kernel's do_fault_around with fault_around_bytes =
//    64 KiB): a read fault on a file VMA also maps, read-only and not young,
//    every page already in the page cache within the 16-entry window around
//    the address (aligned down to 16 entries, clamped to the VMA start; 16
//    entries long, clamped to the PTE table, the VMA end and end of file)
//    whose PTE is empty. It allocates no folio. Write faults do not do it.
//    Like the kernel, it runs before the faulting page is looked at, so a
//    read fault that then fails (SIGBUS past end of file, ENOMEM for the
//    page-cache folio) keeps what fault-around mapped: the one case besides
//    mprotect where a failed operation changes state. As in Linux 6.18, when
//    the window's first cached page is the file's last page, fault-around
//    installs no PTE table of its own: without one already covering the
//    window it maps nothing (see fault_around; checked against the host
//    kernel by the oracle).
//  - VM_ACCOUNT is set on private writable areas at mmap, and by mprotect
//    when a private area first becomes writable. mprotect clears it again
//    only when an anonymous area that has no anon_vma (never held an
//    anonymous page) stops being writable (mprotect_fixup; found by the
//    linux side, docs/linux.md). So an area that was once written no longer
//    merges with one that was never writable.
//  - Shared file mappings: a read fault maps the page-cache folio read-only,
//    a write fault maps it writable and dirty and marks the folio dirty at
//    once (write-notify), and writeback write-protects and cleans every PTE
//    of the folio it writes (folio_mkclean). So no write is ever lost.
//  - mprotect never makes an existing PTE writable; the next write faults.
//  - A write fault on a present read-only PTE in a writable VMA: the zero
//    page, or a non-anonymous folio in a private VMA, is copied into a new
//    anonymous folio (COW); an anonymous folio is reused; a folio in a
//    shared VMA is made writable (and, if it is a page-cache folio, dirty).
//  - Allocation failure injection (fail_next_allocation) fails the next
//    allocation of a VMA, a page table or a folio. Because it is one-shot,
//    it is always the first allocation of the operation that fails, and
//    operations do all their allocations before changing anything.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/addr.h"
#include "model/file.h"
#include "model/flags.h"
#include "model/folio.h"
#include "model/page_table.h"
#include "model/refcount.h"
#include "model/result.h"
#include "model/vma.h"

namespace mmv {

struct MmapRequest {
  Addr addr = 0;  // the address if `fixed`, else a hint (0: none)
  std::uint64_t length = 0;
  VmFlags prot = flags::kRead | flags::kWrite;  // subset of flags::kProtMask
  bool shared = false;
  bool fixed = false;  // MAP_FIXED_NOREPLACE
  Backing backing;
  // Extra flags the caller asks for: only HUGEPAGE / NOHUGEPAGE (madvise).
  VmFlags advice = 0;
  // What a driver's mmap handler does (kDriver backing only).
  std::vector<VmaNewOp> setup;

  friend bool operator==(const MmapRequest&, const MmapRequest&) = default;
};

// The page mapped at one address, as user space or a page walker sees it.
struct PageView {
  bool writable = false;
  bool dirty = false;
  bool young = false;
  bool zero_page = false;
  bool pmd_mapped = false;  // part of a THP mapped by one PMD entry
  FolioId folio = 0;        // when !zero_page
  std::uint32_t subpage = 0;

  friend bool operator==(const PageView&, const PageView&) = default;
};

struct Rss {
  std::int64_t file = 0;  // MM_FILEPAGES: present PTEs of page-cache/driver folios
  std::int64_t anon = 0;  // MM_ANONPAGES: present PTEs of anonymous folios

  friend bool operator==(const Rss&, const Rss&) = default;
};

struct TableCounts {
  std::size_t pte = 0;
  std::size_t pmd = 0;
  std::size_t pud = 0;

  friend bool operator==(const TableCounts&, const TableCounts&) = default;
};

enum class ZapOutcome {
  kZapped,    // the range was valid (possibly empty) and is now clear
  kRejected,  // bad input: silent no-op, counted in zap_rejections
};

enum class LifeState {
  kLive,      // mm_users > 0: the address space is usable
  kTornDown,  // mm_users == 0: exit_mmap has run; only mm_count holders left
  kFreed,     // mm_count == 0: the object is gone
};

namespace model {

// Where a rule of the kernel changed between the versions this model is held
// to, which one it follows. The default is the host kernel's (6.18, what the
// oracle runs on); the linux side (docs/linux.md) chooses each rule as the
// tree it checks has it.
struct KernelRules {
  // Whether changing an existing range (mprotect, madvise) merges it, when
  // it has an anon_vma, into a neighbour that has none. Linux 6.12 does
  // not: its is_mergeable_anon_vma wants the neighbour's anon_vma chain to
  // hold exactly one entry, and an unfaulted VMA's holds none. Later
  // kernels merge (the 6.18 host does). A new range has no anon_vma, so
  // mmap merges alike under both.
  bool merge_anon_vma_into_unfaulted = true;

  friend bool operator==(const KernelRules&, const KernelRules&) = default;
};

class System {
 public:
  // An empty address space with mm_users = 1 and mm_count = 1 (the users'
  // reference). First-fit placement searches [window_lo, window_hi).
  explicit System(Addr window_lo = kMmapMinAddr, Addr window_hi = kTaskSize, KernelRules rules = {});

  // ---- Files and caller-owned pages --------------------------------------
  // A file with the given contents on disk. kWarm: every page is also in the
  // page cache, clean (a file just written with write(2) and synced; what
  // the kernel oracle creates). kCold: the cache is empty (after
  // drop_caches), so faults allocate page-cache folios.
  enum class Cache { kWarm, kCold };
  FileId create_file(std::vector<PageBytes> contents, Cache cache = Cache::kWarm);
  // What read(2) returns for page `index`: the cached folio, else the disk.
  PageBytes file_page(FileId f, std::uint64_t index) const;
  // What the backing store holds for page `index`.
  PageBytes disk_page(FileId f, std::uint64_t index) const;
  // Writes every dirty page-cache folio of `f` to disk, clears its dirty bit
  // and write-protects and cleans every PTE that maps it.
  Status writeback(FileId f);
  // A caller-owned order-0 driver page, refcount 1 (the caller's pin).
  // ENOMEM under allocation-failure injection.
  Result<FolioId> alloc_page();
  // Drops the caller's pin. EINVAL if `id` is not a live folio with a pin.
  Status put_page(FolioId id);

  // ---- Lifetime (SPEC.md section 1) --------------------------------------
  // Caller misuse (an mm_count drop below the users' share, any call after
  // the object is freed) is reported in bugs() and changes nothing.
  Status mmgrab();
  Status mmdrop();  // last one frees the object (check_mm runs)
  bool mmget_not_zero();
  Status mmput();        // last one runs exit_mmap, then drops mm_count
  Status mmput_async();  // same; the model has no worker to defer to
  std::uint32_t mm_users() const { return users_.value(); }
  std::uint32_t mm_count() const { return count_.value(); }
  LifeState life() const;

  // ---- VMAs (SPEC.md section 3); all need a live mm (else NO_USER) -------
  // Errors, in the kernel's order (do_mmap, __get_unmapped_area, then
  // __mmap_region, which allocates the VMA before calling the driver's
  // handler): length 0 -> EINVAL; length rounds past the address space ->
  // ENOMEM; file offset + length overflows -> EOVERFLOW; prot outside
  // kProtMask, advice other than one of HUGEPAGE/NOHUGEPAGE, setup without
  // driver backing, shared anonymous, unknown file -> EINVAL; fixed: end past
  // kTaskSize -> ENOMEM, unaligned -> EINVAL, below kMmapMinAddr -> EPERM,
  // overlap -> EEXIST; not fixed: no gap -> ENOMEM; VMA allocation -> ENOMEM;
  // setup's try_clear_* -> EINVAL.
  Result<Addr> mmap(const MmapRequest& req);
  // Unaligned start, zero length, or a range past kTaskSize -> EINVAL.
  // Holes are fine. Splits VMAs at the ends (ENOMEM if a split cannot be
  // allocated), zaps the range, frees tables no VMA covers any longer.
  Status munmap(Addr addr, std::uint64_t len);
  // In do_mprotect_pkey's order: unaligned start -> EINVAL; len 0 -> ok;
  // end overflows -> ENOMEM; prot outside kProtMask -> EINVAL; start in a
  // hole -> ENOMEM; then VMA by VMA: a hole
  // -> ENOMEM, WRITE without MAYWRITE (etc.) -> EACCES, split failure ->
  // ENOMEM, each stopping with the earlier VMAs already changed.
  Status mprotect(Addr addr, std::uint64_t len, VmFlags prot);
  std::optional<Vma> vma_lookup(Addr addr) const;
  const std::map<Addr, Vma>& vmas() const { return vmas_; }
  // VmaRef::as_mixedmap_vma: whether the VMA containing addr has MIXEDMAP.
  bool is_mixedmap(Addr vma_addr) const;

  // ---- Memory access (SPEC.md section 4) ---------------------------------
  // A CPU load/store of one byte, faulting as needed. Outside any VMA or
  // without permission -> SIGSEGV; past end of file or a driver VMA with no
  // page -> SIGBUS; allocation failure -> ENOMEM. Nothing changes on error.
  Result<std::uint8_t> read(Addr addr);
  Status write(Addr addr, std::uint8_t value);
  // madvise(MADV_POPULATE_WRITE) of [addr, addr + len): every page is
  // made writable as a store to it would make it, page by page in address
  // order, and nothing is stored. A page whose entry already allows the
  // store is left as it is (GUP finds it without a fault); every other one
  // takes the write fault, which leaves its entry writable, dirty and
  // young; a THP leaf is also marked young and dirty (touch_pmd). The
  // kernel's FOLL_TOUCH also marks a folio it finds accessed (and dirty
  // if its entry is clean); folio bits are not changed here. No TLB is
  // filled: GUP walks the tables in software. Errors, in the kernel's order
  // (is_valid_madvise, then __get_user_pages with FOLL_MADV_POPULATE, each
  // measured on the host kernel): unaligned addr, a length that rounds past
  // 2^64 or an end that wraps -> EINVAL; len 0 -> ok; then page by page: no
  // VMA -> ENOMEM; a VMA with IO or PFNMAP or without WRITE -> EINVAL; a
  // fault's SIGBUS (past end of file, a driver VMA without a page) ->
  // EFAULT; allocation failure -> ENOMEM. The pages before the failing one
  // stay populated.
  Status populate(Addr addr, std::uint64_t len);
  // The contents of the page mapped at addr, without any side effect.
  std::optional<PageBytes> peek(Addr addr) const;
  std::optional<PageView> page(Addr addr) const;

  // ---- Driver mappings ---------------------------------------------------
  // VmaMixedMap::vm_insert_page on the VMA containing vma_addr (NO_VMA if
  // there is none or it lacks MIXEDMAP). Maps `page` at the page containing
  // addr. Errors in the kernel's order: addr outside the VMA -> EFAULT;
  // refcount 0 (no such folio) or anonymous -> EINVAL; table allocation ->
  // ENOMEM; entry already present -> EBUSY.
  Status vm_insert_page(Addr vma_addr, Addr addr, FolioId page);

  // ---- Zap (SPEC.md section 5) -------------------------------------------
  // VmaRef::zap_page_range_single on the VMA containing vma_addr (NO_VMA if
  // none). Bad input (address + size overflows, address < start, address +
  // size > end) is a no-op counted in zap_rejections().
  Result<ZapOutcome> zap_page_range_single(Addr vma_addr, Addr address,
                                           std::uint64_t size);
  std::uint64_t zap_rejections() const { return zap_rejections_; }

  // ---- Failure injection -------------------------------------------------
  void fail_next_allocation() { fail_next_alloc_ = true; }
  bool allocation_failure_armed() const { return fail_next_alloc_; }

  // ---- Observation -------------------------------------------------------
  Rss rss() const;  // derived from the page table: always exact
  TableCounts table_counts() const;
  const std::map<FolioId, Folio>& folios() const { return folios_; }
  const std::map<FileId, File>& files() const { return files_; }
  const PageTable& page_table() const { return pt_; }
  // Bugs the kernel would WARN about (refcount misuse, check_mm failures).
  const std::vector<std::string>& bugs() const { return bugs_; }
  // Checks every invariant stated in the model's headers; returns the
  // violations (empty when all hold).
  std::vector<std::string> check_invariants() const;

  friend bool operator==(const System&, const System&) = default;

  // Everything a System consists of, so that another implementation's
  // observed state (impl/observe.h) can be turned into a System and
  // compared with == and diff().
  struct Parts {
    Addr window_lo = kMmapMinAddr;
    Addr window_hi = kTaskSize;
    std::uint32_t users = 1;
    std::uint32_t count = 1;
    bool freed = false;
    std::map<Addr, Vma> vmas;
    PageTable pt;
    std::map<FolioId, Folio> folios;
    FolioId next_folio = 1;
    std::uint64_t next_anon_vma = 1;
    std::map<FileId, File> files;
    FileId next_file = 1;
    std::uint64_t zap_rejections = 0;
    bool fail_next_alloc = false;
    std::vector<std::string> bugs;
  };
  static System from_parts(Parts p);

 private:
  // lifetime.cc
  Status require_live();  // reports a call on a freed mm
  void exit_mmap();
  void check_mm();
  void report(std::string bug);
  // alloc: consumes the injected failure. True if the allocation succeeds.
  bool try_alloc();
  // fault.cc
  Status fault(Addr addr, bool write);
  Status fault_missing(const Vma& vma, Addr addr, bool write);
  Status fault_present(const Vma& vma, Addr addr);
  void fault_around(const Vma& vma, Addr addr);
  Result<FolioId> page_cache_folio(FileId f, std::uint64_t index);
  FolioId new_folio(FolioKind kind, unsigned order);
  void map_pte(Addr addr, const Pte& pte);
  // zap.cc
  void zap_range(Addr lo, Addr hi);
  void zap_pte(Addr addr);
  void split_pmd(Addr addr);
  void release_ref(FolioId id);
  // mmap.cc
  bool range_free(Addr lo, Addr hi) const;
  std::optional<Addr> find_gap(Addr hint, std::uint64_t len) const;
  int splits_needed(Addr lo, Addr hi) const;
  void split_vma_at(Addr at);
  bool covered(Addr lo, Addr hi) const;
  void merge_around(Addr start);
  // vma_modify: [lo, hi), inside one area, gets flags `f`: what lies
  // outside it is split off, and the result merged with its neighbours.
  // (mprotect, and mmap's HUGEPAGE advice.)
  void modify_flags(Addr lo, Addr hi, VmFlags f);
  void ensure_anon_vma(Addr addr);

  Addr window_lo_;
  Addr window_hi_;
  KernelRules rules_;
  Refcount users_{1};
  Refcount count_{1};
  bool freed_ = false;
  std::map<Addr, Vma> vmas_;  // keyed by start; non-overlapping
  PageTable pt_;
  std::map<FolioId, Folio> folios_;
  FolioId next_folio_ = 1;
  std::uint64_t next_anon_vma_ = 1;
  std::map<FileId, File> files_;
  FileId next_file_ = 1;
  std::uint64_t zap_rejections_ = 0;
  bool fail_next_alloc_ = false;
  std::vector<std::string> bugs_;
};

}  // namespace model
}  // namespace mmv
