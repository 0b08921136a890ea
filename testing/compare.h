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
  std::string impl;                     // the other side's outcome (the impl's, or linux/'s)
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

// The same loop against any other side (linux/linux_runner.h): a fresh Side,
// `model` (fresh, with the rules it is to follow), and
// step(c, model, side) -> StepResult.
template <class Side, class Step>
Replayed replay_on(const std::vector<Command>& commands, Step step, ModelRunner model = ModelRunner()) {
  Replayed out;
  Side side;
  for (const Command& c : commands) {
    ++out.ran;
    if (!precondition(c, model.holdings())) {
      out.mismatch = "command " + std::to_string(out.ran) + " (" + to_string(c) +
                     "): its precondition does not hold (a reference the run does not hold)";
      return out;
    }
    const StepResult r = step(c, model, side);
    if (r.mismatch) {
      out.mismatch = "command " + std::to_string(out.ran) + ": " + *r.mismatch;
      return out;
    }
  }
  return out;
}

}  // namespace mmv::cmd
