// One step of the model-vs-implementation comparison, shared by the
// RapidCheck state machine (properties/state_machine.cc), the regression
// replayer (testing/replay_main.cc) and the fuzzer: the command runs on both
// runners, and then both must have answered the same, the impl's observed
// state must equal the model's (model::System ==), and the impl's own
// invariants must hold.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "testing/command.h"
#include "testing/impl_runner.h"
#include "testing/model_runner.h"

namespace mmv::cmd {

struct StepResult {
  std::string model;                    // the model's outcome
  std::string impl;                     // the impl's outcome
  std::optional<std::string> mismatch;  // the first difference, if any
};

// REQUIRES: precondition(c, model.holdings()).
StepResult step_and_compare(const Command& c, ModelRunner& model, ImplRunner& impl);

// A whole sequence on fresh runners, stopping at the first mismatch (or at a
// command whose precondition does not hold: a malformed sequence).
struct Replayed {
  std::optional<std::string> mismatch;  // "command N: ..."
  std::size_t ran = 0;                  // commands run, the mismatching one included
};
Replayed replay_commands(const std::vector<Command>& commands);

}  // namespace mmv::cmd
