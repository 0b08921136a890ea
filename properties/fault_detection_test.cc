// Proof that the properties can fail: for each deliberate bug of the
// test-only fault switch (impl/fault_switch.h), the model-vs-impl state
// machine -- run with exactly the parameters properties_test uses by default
// (properties/params.h) -- must find it, and RapidCheck must shrink it to at
// most kMaxShrunk commands. One line per fault goes to stdout:
//
//   fault kZapForgetsDirty: found after N cases, T s, shrunk to L commands
//
// N counts the cases run up to and including the failing one; T is the wall
// time until the result, shrinking included; L is the command count of the
// shortest failing sequence (properties::shortest_failure()).
//
// Built only with MMV_FAULTS (every build type but Release).
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <chrono>
#include <ostream>
#include <cstdio>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "impl/fault_switch.h"
#include "rapidcheck/detail/TestListenerAdapter.h"
#include "properties/params.h"
#include "properties/state_machine.h"
#include "properties/stats.h"
#include "testing/command_text.h"
#include "testing/compare.h"

#if !MMV_FAULTS
#error "fault_detection_test needs the fault switch (CMake option MMV_FAULTS)"
#endif

namespace mmv::impl {
// For test names and messages (found by argument-dependent lookup).
void PrintTo(Fault f, std::ostream* os) { *os << fault_name(f); }
}  // namespace mmv::impl

namespace mmv::props {
namespace {

using impl::Fault;
using impl::ScopedFault;

constexpr int kMaxShrunk = 6;

// The statistics of runs against broken builds are not coverage.
[[maybe_unused]] const bool kStatsMuted = (stats().mute(), true);

constexpr Fault kFaults[] = {
    Fault::kZapForgetsDirty,   Fault::kZapFreesTable,    Fault::kPmdSplitRssLeak,
    Fault::kMmgetFromZero,     Fault::kBadZapNotRejected, Fault::kZapRoundsEndDown,
    Fault::kExitSkipsWriteback,
    // Stale translations: seen through a CPU's software TLB (impl/tlb.h).
    Fault::kMprotectSkipsShootdown, Fault::kMkcleanSkipsShootdown, Fault::kMunmapSkipsShootdown,
    Fault::kZapForgetsAccessed,     Fault::kInsertPageNotMixedMap,
    // Beyond one batch: needs populate and the boundary generators.
    Fault::kBatchFlushForgetsRange,
};

class FaultDetection : public ::testing::TestWithParam<Fault> {};

TEST_P(FaultDetection, FoundAndShrunkWithinDefaultBudget) {
  const Fault fault = GetParam();
  const rc::detail::TestParams params = state_machine_params();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string("FaultDetection/") + impl::fault_name(fault);
  metadata.description = metadata.id;

  reset_shortest_failure();
  const auto t0 = std::chrono::steady_clock::now();
  // Quiet, and deaf to RC_PARAMS: no reproduce hint at exit for a failure
  // that only exists with the fault on, and no reproduce= entry can replace
  // the search.
  rc::detail::TestListenerAdapter quiet;
  const std::unordered_map<std::string, rc::detail::Reproduce> no_reproduce;
  const rc::detail::TestResult result = [&] {
    ScopedFault on(fault);
    return rc::detail::checkTestable([] { model_vs_impl_case(); }, metadata, params, quiet,
                                     no_reproduce);
  }();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(impl::fault_active(Fault::kNone)) << "ScopedFault did not restore the switch";

  std::ostringstream report;
  rc::detail::printResultMessage(result, report);
  rc::detail::FailureResult failure;
  ASSERT_TRUE(result.match(failure)) << impl::fault_name(fault) << " was not found with "
                                     << kStateMachineParams << ":\n" << report.str();
  const int shrunk = shortest_failure();
  std::printf("fault %s: found after %d cases, %.1f s, shrunk to %d commands\n",
              impl::fault_name(fault), failure.numSuccess + 1, secs, shrunk);
  for (const auto& [type, value] : failure.counterExample) {
    std::istringstream lines(value);
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) std::printf("    %s\n", line.c_str());
  }
  EXPECT_GE(shrunk, 1) << report.str();
  EXPECT_LE(shrunk, kMaxShrunk) << report.str();

  // The shrunk counterexample as a regression file (regressions/*.mmv), and
  // proof that it is one: clean with the fault off, caught with it on.
  const std::string marker = "regression file (";
  const auto at = failure.description.rfind(marker);  // the source text of RC_FAIL comes first
  ASSERT_NE(at, std::string::npos) << failure.description;
  std::string error;
  const auto file = cmd::parse_command_file(failure.description.substr(failure.description.find('\n', at) + 1), &error);
  ASSERT_TRUE(file.has_value()) << error << "\nin:\n" << failure.description;
  const std::string text = cmd::format_command_file(
      {{"kind", "model-vs-impl"},
       {"caught", std::string(impl::fault_name(fault)) + ", by the model-vs-impl property: " + file->header.at("caught")},
       {"fault", impl::fault_name(fault)}},
      file->commands);
  std::printf("  regression file:\n%s", text.c_str());
  std::fflush(stdout);
  const cmd::Replayed off = cmd::replay_commands(file->commands);
  EXPECT_FALSE(off.mismatch.has_value()) << "with no fault: " << *off.mismatch;
  ScopedFault on(fault);
  EXPECT_TRUE(cmd::replay_commands(file->commands).mismatch.has_value()) << "the file does not catch the fault:\n" << text;
}

INSTANTIATE_TEST_SUITE_P(AllFaults, FaultDetection, ::testing::ValuesIn(kFaults),
                         [](const ::testing::TestParamInfo<Fault>& info) {
                           return std::string(impl::fault_name(info.param)).substr(1);
                         });

// The catalogue (impl/fault_switch.h) names every fault once, and the
// faults it says the property catches are exactly the ones run above.
TEST(FaultCatalogue, EveryFaultOnceAndThePropertyOnesRunHere) {
  std::vector<Fault> listed, by_property;
  for (const impl::FaultInfo& f : impl::kFaultCatalogue) {
    listed.push_back(f.fault);
    if (std::string(f.suite) == "property") by_property.push_back(f.fault);
    EXPECT_NE(std::string(f.real_bug), "") << impl::fault_name(f.fault);
  }
  for (int i = 1; std::string(impl::fault_name(static_cast<Fault>(i))) != "?"; ++i)
    EXPECT_EQ(std::count(listed.begin(), listed.end(), static_cast<Fault>(i)), 1)
        << impl::fault_name(static_cast<Fault>(i));
  EXPECT_EQ(by_property, std::vector<Fault>(std::begin(kFaults), std::end(kFaults)));
}

TEST(ScopedFault, RestoresThePreviousSetting) {
  ASSERT_TRUE(impl::fault_active(Fault::kNone));
  {
    ScopedFault outer(Fault::kZapFreesTable);
    EXPECT_TRUE(impl::fault_active(Fault::kZapFreesTable));
    {
      ScopedFault inner(Fault::kMmgetFromZero);
      EXPECT_TRUE(impl::fault_active(Fault::kMmgetFromZero));
      EXPECT_FALSE(impl::fault_active(Fault::kZapFreesTable));
    }
    EXPECT_TRUE(impl::fault_active(Fault::kZapFreesTable));
  }
  EXPECT_TRUE(impl::fault_active(Fault::kNone));
}

}  // namespace
}  // namespace mmv::props
