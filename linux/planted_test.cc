// Proof that the linux side has teeth: this binary is built against a copy
// of mm/vma.c with one planted bug (linux/planted/MMV_LINUX_PLANTED.sed),
// and the model-vs-linux property, at exactly linux_test's default budget
// (kLinuxParams), must find it and shrink it to at most kMaxShrunk commands.
// One line goes to stdout:
//
//   planted NAME: found after N cases, T s, shrunk to L commands
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <unordered_map>

#include "linux/linux_property.h"
#include "rapidcheck/detail/TestListenerAdapter.h"

#ifndef MMV_LINUX_PLANTED
#error "MMV_LINUX_PLANTED names the planted bug (linux/CMakeLists.txt)"
#endif

namespace mmv::linux_side {
namespace {

constexpr int kMaxShrunk = 6;

TEST(LinuxPlanted, FoundAndShrunkWithinTheDefaultBudget) {
  const rc::detail::TestParams params = rc::detail::configFromString(kLinuxParams).testParams;
  rc::detail::TestMetadata metadata;
  metadata.id = std::string("LinuxPlanted/") + MMV_LINUX_PLANTED;
  metadata.description = metadata.id;
  reset_tally();
  const auto t0 = std::chrono::steady_clock::now();
  // Quiet, and deaf to RC_PARAMS: the search is what is being shown.
  rc::detail::TestListenerAdapter quiet;
  const std::unordered_map<std::string, rc::detail::Reproduce> no_reproduce;
  const rc::detail::TestResult result =
      rc::detail::checkTestable([] { model_vs_linux_case(); }, metadata, params, quiet, no_reproduce);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ostringstream report;
  rc::detail::printResultMessage(result, report);
  rc::detail::FailureResult failure;
  ASSERT_TRUE(result.match(failure)) << MMV_LINUX_PLANTED << " was not found with " << kLinuxParams << ":\n"
                                     << report.str();
  const int shrunk = tally().shortest_failure;
  std::printf("planted %s: found after %d cases, %.1f s, shrunk to %d commands\n", MMV_LINUX_PLANTED,
              failure.numSuccess + 1, secs, shrunk);
  std::printf("%s\n", failure.description.c_str());
  EXPECT_GE(shrunk, 1) << report.str();
  EXPECT_LE(shrunk, kMaxShrunk) << report.str();
}

}  // namespace
}  // namespace mmv::linux_side
