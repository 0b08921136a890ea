#include "model/flags.h"

#include <cstdio>
#include <utility>

namespace mmv {

std::string flags_to_string(VmFlags f) {
  static constexpr std::pair<VmFlags, const char*> kNames[] = {
      {flags::kRead, "READ"},         {flags::kWrite, "WRITE"},
      {flags::kExec, "EXEC"},         {flags::kShared, "SHARED"},
      {flags::kMayRead, "MAYREAD"},   {flags::kMayWrite, "MAYWRITE"},
      {flags::kMayExec, "MAYEXEC"},   {flags::kMayShare, "MAYSHARE"},
      {flags::kPfnMap, "PFNMAP"},     {flags::kIo, "IO"},
      {flags::kDontCopy, "DONTCOPY"}, {flags::kDontExpand, "DONTEXPAND"},
      {flags::kLockOnFault, "LOCKONFAULT"}, {flags::kAccount, "ACCOUNT"},
      {flags::kNoReserve, "NORESERVE"}, {flags::kHugeTlb, "HUGETLB"},
      {flags::kSync, "SYNC"},         {flags::kArch1, "ARCH_1"},
      {flags::kWipeOnFork, "WIPEONFORK"}, {flags::kDontDump, "DONTDUMP"},
      {flags::kSoftDirty, "SOFTDIRTY"}, {flags::kMixedMap, "MIXEDMAP"},
      {flags::kHugePage, "HUGEPAGE"}, {flags::kNoHugePage, "NOHUGEPAGE"},
      {flags::kMergeable, "MERGEABLE"},
  };
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (f & bit) {
      if (!out.empty()) out += '|';
      out += name;
      f &= ~bit;
    }
  }
  if (f != 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(f));
    if (!out.empty()) out += '|';
    out += buf;
  }
  return out.empty() ? "NONE" : out;
}

}  // namespace mmv
