// Vma: one virtual memory area, and VmaNew, the setters a driver's mmap
// handler may apply before the area is inserted (kernel::mm::virt::VmaNew).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "model/addr.h"
#include "model/flags.h"
#include "model/folio.h"
#include "model/result.h"

namespace mmv {

enum class BackingKind {
  kAnon,    // anonymous private memory
  kFile,    // a file: page `pgoff` of `file` is mapped at `start`
  kDriver,  // a device mapping: pages only arrive through vm_insert_page;
            // a fault on a missing page is SIGBUS (no ->fault handler)
};

struct Backing {
  BackingKind kind = BackingKind::kAnon;
  FileId file = 0;          // kFile only
  std::uint64_t pgoff = 0;  // kFile only

  friend bool operator==(const Backing&, const Backing&) = default;
};

// Invariants: start < end, both page-aligned, inside [kMmapMinAddr,
// kTaskSize); MIXEDMAP only on kDriver; SHARED implies MAYSHARE.
struct Vma {
  Addr start = 0;
  Addr end = 0;
  VmFlags flags = 0;
  Backing backing;
  // Which anon_vma the area's anonymous folios hang off: 0 until the first
  // anonymous folio is mapped in it; both halves of a split share it. Only
  // VMAs with equal (or absent) anon_vmas may merge, as in the kernel.
  std::uint64_t anon_vma = 0;

  bool contains(Addr a) const { return start <= a && a < end; }
  std::uint64_t pages() const { return (end - start) >> kPageShift; }
  bool is_shared() const { return (flags & flags::kShared) != 0; }
  // The file page mapped at `a` (kFile only).
  std::uint64_t file_index(Addr a) const {
    return backing.pgoff + ((a - start) >> kPageShift);
  }

  friend bool operator==(const Vma&, const Vma&) = default;
};

// The kernel's VM_SPECIAL: areas with these flags never merge.
inline constexpr VmFlags kVmSpecial =
    flags::kIo | flags::kDontExpand | flags::kPfnMap | flags::kMixedMap;

// Whether the kernel would merge `prev` and the area right after it: same
// flags, neither special, same backing (a file at contiguous offsets; driver
// areas never merge: each mapping of a device is its own), and compatible
// anon_vmas.
bool vmas_mergeable(const Vma& prev, const Vma& next);

// Whether `prev` and the area right after it may share an anon_vma: the
// kernel's anon_vma_compatible, by which a fault's anon_vma_prepare takes a
// neighbour's anon_vma instead of a new one (find_mergeable_anon_vma), so
// that areas an mprotect split apart can merge again. Adjacent, the same
// flags but for the access bits, the same backing at contiguous offsets
// (anonymous areas' offsets always are: no mremap here).
bool anon_vma_compatible(const Vma& prev, const Vma& next);

std::ostream& operator<<(std::ostream& os, const Vma& v);

// The setters of kernel::mm::virt::VmaNew, as data, so that an mmap request
// can carry the handler's choices.
enum class VmaNewOp {
  kSetMixedMap,
  kSetIo,
  kSetDontExpand,
  kSetDontCopy,
  kSetDontDump,
  kTryClearMayRead,
  kTryClearMayWrite,
  kTryClearMayExec,
};

// A VMA under construction inside an mmap handler.
class VmaNew {
 public:
  explicit VmaNew(VmFlags flags) : flags_(flags) {}
  VmFlags flags() const { return flags_; }

  void set_mixedmap() { flags_ |= flags::kMixedMap; }
  void set_io() { flags_ |= flags::kIo; }
  void set_dontexpand() { flags_ |= flags::kDontExpand; }
  void set_dontcopy() { flags_ |= flags::kDontCopy; }
  void set_dontdump() { flags_ |= flags::kDontDump; }
  // Each fails with EINVAL while the matching access bit is set: a VMA must
  // not become readable (etc.) without being allowed to be.
  Status try_clear_mayread() { return try_clear(flags::kRead, flags::kMayRead); }
  Status try_clear_maywrite() { return try_clear(flags::kWrite, flags::kMayWrite); }
  Status try_clear_mayexec() { return try_clear(flags::kExec, flags::kMayExec); }

  Status apply(VmaNewOp op);

 private:
  Status try_clear(VmFlags access, VmFlags may) {
    if (flags_ & access) return Errc::kInval;
    flags_ &= ~may;
    return {};
  }
  VmFlags flags_;
};

}  // namespace mmv
