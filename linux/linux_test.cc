// Model vs Linux's own mm/vma.c (docs/linux.md): random sequences of the
// commands that change the VMA tree, after each of which both sides must
// have answered the same and hold the same VMAs (boundaries, flags, file
// and offset, which VMAs share an anon_vma), with no kernel warning.
//
// A failure prints the shrunk sequence, RapidCheck's reproduce string and a
// regression file (regressions/*.linux, replayed by linux_replay).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/detail/Configuration.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "linux/linux_property.h"
#include "testing/rc_default_params.h"

#ifndef MMV_LINUX_TREE_FILE
#error "MMV_LINUX_TREE_FILE: the prepared tree's TREE file (linux/CMakeLists.txt)"
#endif

namespace mmv::linux_side {
namespace {

MMV_RC_DEFAULT_PARAMS(kLinuxParams);

void SameVmaTreeAfterEveryCommandProperty() { model_vs_linux_case(); }

std::string tree() {
  std::ifstream in(MMV_LINUX_TREE_FILE);
  std::string line;
  std::getline(in, line);
  return line;
}

// RC_GTEST_PROP written out (same property id, so reproduce strings keep
// working), so that the run's summary is printed, and so that a run at the
// CI budget or more must have reached what mm/vma.c is about: new ranges
// merged into neighbours, splits and merges by mprotect and munmap, and
// anon_vmas both new and reused.
TEST(LinuxVsModel, SameVmaTreeAfterEveryCommand) {
  reset_tally();
  const auto t0 = std::chrono::steady_clock::now();
  ::rc::detail::checkGTest(&SameVmaTreeAfterEveryCommandProperty);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Tally t = tally();
  std::printf("linux: %s, against %s, in %.1f s (%.0f sequences/s)\n", describe(t).c_str(), tree().c_str(),
              secs, secs > 0 ? static_cast<double>(t.cases) / secs : 0.0);
  const auto& params = ::rc::detail::configuration().testParams;
  const auto ci = ::rc::detail::configFromString(kLinuxParams).testParams;
  if (HasFailure() || params.maxSuccess < ci.maxSuccess || params.maxSize < ci.maxSize) return;
  EXPECT_GT(t.mmap_merged, 0u) << describe(t);
  EXPECT_GT(t.splits, 0u) << describe(t);
  EXPECT_GT(t.merges, 0u) << describe(t);
  EXPECT_GT(t.anon_vma_new, 0u) << describe(t);
}

}  // namespace
}  // namespace mmv::linux_side
