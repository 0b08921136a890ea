// Error codes returned by model and implementation operations. Named after
// the errno (or signal) the kernel would report for the same condition.
#pragma once

#include <ostream>
#include <string_view>

namespace mmv {

enum class Errc {
  kPerm,      // EPERM: fixed mapping below mmap_min_addr.
  kNoMem,     // ENOMEM: allocation failed, or range not (fully) mapped.
  kFault,     // EFAULT: address outside the VMA (vm_insert_page).
  kBusy,      // EBUSY: PTE already present (vm_insert_page).
  kExist,     // EEXIST: fixed mapping overlaps an existing one.
  kInval,     // EINVAL: malformed argument.
  kAccess,    // EACCES: protection not allowed by the VMA's MAY* flags.
  kOverflow,  // EOVERFLOW: file offset + length overflows.
  kSegv,      // SIGSEGV: access outside any VMA or without permission.
  kBus,       // SIGBUS: access beyond end of file, or no page to map.
  kNoVma,     // Caller misuse: no VMA / no MIXEDMAP VMA where one was named.
  kNoUser,    // Caller misuse: the mm has no users left (after last mmput).
  kFreed,     // Caller misuse: the mm was freed (after last mmdrop).
};

std::string_view errc_name(Errc e);
inline std::ostream& operator<<(std::ostream& os, Errc e) {
  return os << errc_name(e);
}

}  // namespace mmv
