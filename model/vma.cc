#include "model/vma.h"

#include <ios>

namespace mmv {

Status VmaNew::apply(VmaNewOp op) {
  switch (op) {
    case VmaNewOp::kSetMixedMap: set_mixedmap(); return {};
    case VmaNewOp::kSetIo: set_io(); return {};
    case VmaNewOp::kSetDontExpand: set_dontexpand(); return {};
    case VmaNewOp::kSetDontCopy: set_dontcopy(); return {};
    case VmaNewOp::kSetDontDump: set_dontdump(); return {};
    case VmaNewOp::kTryClearMayRead: return try_clear_mayread();
    case VmaNewOp::kTryClearMayWrite: return try_clear_maywrite();
    case VmaNewOp::kTryClearMayExec: return try_clear_mayexec();
  }
  return Errc::kInval;
}

bool vmas_mergeable(const Vma& prev, const Vma& next) {
  if (prev.end != next.start || prev.flags != next.flags || (prev.flags & kVmSpecial))
    return false;
  if (prev.backing.kind != next.backing.kind || prev.backing.kind == BackingKind::kDriver)
    return false;
  if (prev.backing.kind == BackingKind::kFile &&
      (prev.backing.file != next.backing.file ||
       prev.backing.pgoff + prev.pages() != next.backing.pgoff)) {
    return false;
  }
  return prev.anon_vma == 0 || next.anon_vma == 0 || prev.anon_vma == next.anon_vma;
}

bool anon_vma_compatible(const Vma& prev, const Vma& next) {
  if (prev.end != next.start || ((prev.flags ^ next.flags) & ~flags::kAccessMask)) return false;
  if (prev.backing.kind != next.backing.kind || prev.backing.kind == BackingKind::kDriver) return false;
  return prev.backing.kind != BackingKind::kFile ||
         (prev.backing.file == next.backing.file && next.backing.pgoff == prev.backing.pgoff + prev.pages());
}

std::ostream& operator<<(std::ostream& os, const Vma& v) {
  os << "[0x" << std::hex << v.start << ", 0x" << v.end << std::dec << ") "
     << flags_to_string(v.flags);
  switch (v.backing.kind) {
    case BackingKind::kAnon: os << " anon"; break;
    case BackingKind::kDriver: os << " driver"; break;
    case BackingKind::kFile:
      os << " file " << v.backing.file << " pgoff " << v.backing.pgoff;
      break;
  }
  if (v.anon_vma != 0) os << " anon_vma " << v.anon_vma;
  return os;
}

}  // namespace mmv
