// The default RapidCheck parameters of the state-machine property, in one
// place: properties_test uses them (MMV_RC_DEFAULT_PARAMS, overridable with
// RC_PARAMS), and fault_detection_test runs the same property with exactly
// these, to show each deliberate fault is found within that budget.
#pragma once

#include <rapidcheck/detail/Configuration.h>

namespace mmv::props {

inline constexpr const char* kStateMachineParams = "seed=20251123 max_success=1500 max_size=300";

// kStateMachineParams, read by RapidCheck's own parser.
inline rc::detail::TestParams state_machine_params() {
  return rc::detail::configFromString(kStateMachineParams).testParams;
}

}  // namespace mmv::props
