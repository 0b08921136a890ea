// VMA flags: the constants of kernel::mm::virt::flags, x86-64 values.
#pragma once

#include <cstdint>
#include <string>

namespace mmv {

using VmFlags = std::uint64_t;

namespace flags {
inline constexpr VmFlags kNone = 0;
inline constexpr VmFlags kRead = 0x1;
inline constexpr VmFlags kWrite = 0x2;
inline constexpr VmFlags kExec = 0x4;
inline constexpr VmFlags kShared = 0x8;
inline constexpr VmFlags kMayRead = 0x10;
inline constexpr VmFlags kMayWrite = 0x20;
inline constexpr VmFlags kMayExec = 0x40;
inline constexpr VmFlags kMayShare = 0x80;
inline constexpr VmFlags kPfnMap = 0x400;
inline constexpr VmFlags kIo = 0x4000;
inline constexpr VmFlags kDontCopy = 0x20000;
inline constexpr VmFlags kDontExpand = 0x40000;
inline constexpr VmFlags kLockOnFault = 0x80000;
inline constexpr VmFlags kAccount = 0x100000;
inline constexpr VmFlags kNoReserve = 0x200000;
inline constexpr VmFlags kHugeTlb = 0x400000;
inline constexpr VmFlags kSync = 0x800000;
inline constexpr VmFlags kArch1 = 0x1000000;
inline constexpr VmFlags kWipeOnFork = 0x2000000;
inline constexpr VmFlags kDontDump = 0x4000000;
inline constexpr VmFlags kSoftDirty = 0x8000000;
inline constexpr VmFlags kMixedMap = 0x10000000;
inline constexpr VmFlags kHugePage = 0x20000000;
inline constexpr VmFlags kNoHugePage = 0x40000000;
inline constexpr VmFlags kMergeable = 0x80000000;

// The protection bits a caller passes to mmap/mprotect.
inline constexpr VmFlags kProtMask = kRead | kWrite | kExec;
// Any of these makes a VMA readable by the CPU (x86-64 cannot express
// write-only or execute-only pages; the kernel's vma_is_accessible()).
inline constexpr VmFlags kAccessMask = kRead | kWrite | kExec;
}  // namespace flags

// "READ|WRITE|MAYREAD|..." for messages; unknown bits are shown in hex.
std::string flags_to_string(VmFlags f);

}  // namespace mmv
