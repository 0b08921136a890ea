// The model-vs-implementation state machine as a RapidCheck property body:
// random command sequences run on ModelRunner and ImplRunner; after every
// command both must have answered the same, the impl's observed state must
// equal the model's, and the impl's invariants must hold. Used by
// stateful_props.cc and by the fault-detection test, which runs it against
// deliberately broken builds of the impl.
#pragma once

namespace mmv::props {

// Call inside a RapidCheck property (it uses RC_PRE/RC_FAIL).
void model_vs_impl_case();

// The command count of the shortest failing sequence seen since the last
// reset (0 if none failed): after RapidCheck has shrunk a failure, that is
// the length of the counterexample.
int shortest_failure();
void reset_shortest_failure();

}  // namespace mmv::props
