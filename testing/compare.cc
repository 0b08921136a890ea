#include "testing/compare.h"

#include "model/describe.h"

namespace mmv::cmd {

StepResult step_and_compare(const Command& c, ModelRunner& model, ImplRunner& impl) {
  StepResult r;
  r.model = model.apply(c);
  r.impl = impl.apply(c);
  if (r.model != r.impl) {
    r.mismatch = to_string(c) + ": model " + r.model + ", impl " + r.impl;
    return r;
  }
  const model::System seen = impl.observe();
  if (!(model.system() == seen)) {
    r.mismatch = "after " + to_string(c) + " the states differ (model | impl):\n" + model::diff(model.system(), seen);
    return r;
  }
  const auto broken = impl.check_invariants(seen);
  if (!broken.empty()) r.mismatch = "after " + to_string(c) + ": " + broken.front();
  return r;
}

Replayed replay_commands(const std::vector<Command>& commands) {
  return replay_on<ImplRunner>(commands, [](const Command& c, ModelRunner& model, ImplRunner& impl) {
    return step_and_compare(c, model, impl);
  });
}

}  // namespace mmv::cmd
