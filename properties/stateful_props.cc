// The model-vs-implementation state machine (SPEC.md section 6); see
// properties/state_machine.h. On failure RapidCheck prints the shrunk
// command sequence and its reproduce string; the failure message holds the
// diff of the two states.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/detail/Configuration.h>

#include "properties/params.h"
#include "properties/state_machine.h"
#include "properties/stats.h"
#include "testing/rc_default_params.h"

namespace mmv::props {
namespace {

MMV_RC_DEFAULT_PARAMS(kStateMachineParams);

void SameResultsAndStateAfterEveryCommandProperty() { model_vs_impl_case(); }

// RC_GTEST_PROP written out (same property id, so reproduce strings keep
// working), so that the reach table (properties/reach.h) is checked in the
// same run: at the CI budget (kStateMachineParams) or more, with any seed,
// every possible cell must have been hit, or a rule that only the missing
// cell's path can break went unchecked.
TEST(ModelVsImpl, SameResultsAndStateAfterEveryCommand) {
  ::rc::detail::checkGTest(&SameResultsAndStateAfterEveryCommandProperty);
  const auto& params = ::rc::detail::configuration().testParams;
  const auto ci = state_machine_params();
  if (HasFailure() || params.maxSuccess < ci.maxSuccess || params.maxSize < ci.maxSize) return;
  const std::vector<std::string> holes = stats().reach().missing();
  EXPECT_TRUE(holes.empty()) << "the generators never reached " << holes.size()
                             << " possible cells of the reach table:\n"
                             << stats().reach().table();
}

}  // namespace
}  // namespace mmv::props
