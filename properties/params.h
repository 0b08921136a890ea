// The default RapidCheck parameters of the state-machine property, in one
// place: properties_test uses them (MMV_RC_DEFAULT_PARAMS, overridable with
// RC_PARAMS), and fault_detection_test runs the same property with exactly
// these, to show each deliberate fault is found within that budget.
#pragma once

namespace mmv::props {

inline constexpr const char* kStateMachineParams = "seed=20251123 max_success=1500 max_size=300";
// The same budget as numbers: at least this much, and the reach table must
// be full (properties/stateful_props.cc).
inline constexpr int kStateMachineCases = 1500;
inline constexpr int kStateMachineMaxSize = 300;

}  // namespace mmv::props
