#include "model/errc.h"

namespace mmv {

std::string_view errc_name(Errc e) {
  switch (e) {
    case Errc::kPerm: return "EPERM";
    case Errc::kNoMem: return "ENOMEM";
    case Errc::kFault: return "EFAULT";
    case Errc::kBusy: return "EBUSY";
    case Errc::kExist: return "EEXIST";
    case Errc::kInval: return "EINVAL";
    case Errc::kAccess: return "EACCES";
    case Errc::kOverflow: return "EOVERFLOW";
    case Errc::kSegv: return "SIGSEGV";
    case Errc::kBus: return "SIGBUS";
    case Errc::kNoVma: return "NO_VMA";
    case Errc::kNoUser: return "NO_USER";
    case Errc::kFreed: return "FREED";
  }
  return "?";
}

}  // namespace mmv
