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

std::ostream& operator<<(std::ostream& os, const Vma& v) {
  os << "[0x" << std::hex << v.start << ", 0x" << v.end << std::dec << ") "
     << flags_to_string(v.flags);
  switch (v.backing.kind) {
    case BackingKind::kAnon: return os << " anon";
    case BackingKind::kDriver: return os << " driver";
    case BackingKind::kFile:
      return os << " file " << v.backing.file << " pgoff " << v.backing.pgoff;
  }
  return os;
}

}  // namespace mmv
