// The model-vs-implementation state machine (SPEC.md section 6); see
// properties/state_machine.h. On failure RapidCheck prints the shrunk
// command sequence and its reproduce string; the failure message holds the
// diff of the two states.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "properties/params.h"
#include "properties/state_machine.h"
#include "testing/rc_default_params.h"

namespace mmv::props {
namespace {

MMV_RC_DEFAULT_PARAMS(kStateMachineParams);

RC_GTEST_PROP(ModelVsImpl, SameResultsAndStateAfterEveryCommand, ()) { model_vs_impl_case(); }

}  // namespace
}  // namespace mmv::props
