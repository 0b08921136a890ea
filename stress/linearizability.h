// Linearizability of recorded histories of concurrent commands
// (testing/command.h) against a sequential model: the mm stress tests' use
// of the generic checker in lincheck/lincheck.h. The model is any copyable,
// equality-comparable type with `std::string apply(const cmd::Command&)`
// (cmd::ModelRunner); state_hash(model) must be equal for equal models
// (cmd::state_hash in testing/model_runner.h); the memo compares states with
// == on a hash hit.
//
// P-compositionality: check_partitioned() splits the history with a
// caller-supplied key and checks each part on its own. The caller is
// responsible for the independence (the stress tests give each key its own
// VMA, far from the others, so no merge, split or table is shared in a way
// the model could see).
//
// A failed check can be drawn: write_timeline() writes the HTML timeline of
// lincheck/timeline.h (one lane per thread, the window highlighted, the
// longest linearizable prefix marked) and returns the line that names it
// for the failure message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lincheck/lincheck.h"
#include "testing/command.h"

namespace mmv::stress {

// One command of a recorded history: lin::Op's fields are client (the
// thread), call and ret (monotonic ns, call < ret), responded, input (the
// command) and output (its outcome).
using Operation = lin::Op<cmd::Command, std::string>;

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };
const char* verdict_name(Verdict v);

struct CheckResult {
  Verdict verdict = Verdict::kUnknown;
  std::vector<std::size_t> order;  // a witness order (indices into the history) when linearizable
  std::uint64_t states = 0;        // search nodes visited
  // When not linearizable: per thread, the operations around the first one
  // the deepest partial linearization could not place ("the minimal
  // non-linearizable window", lin::window), formatted for printing.
  std::string explanation;
  // When not linearizable: the operations of the deepest partial
  // linearization ("the longest linearizable prefix", lin::Result::deepest),
  // over the history checked, or over `part` when that is not empty.
  std::vector<bool> placed;
  // check_partitioned: the indices into the history of the part that was
  // not linearizable (empty: the whole history was checked as one).
  std::vector<std::size_t> part;
};

// `history` against any lin::check model of commands (lincheck/lincheck.h;
// Input cmd::Command, Output std::string), e.g. a small one for one
// workload (stress/zap_spec.h).
template <class LinModel>
CheckResult check_with(const LinModel& model, const typename LinModel::State& initial,
                       const std::vector<Operation>& history, std::chrono::milliseconds budget);

// Model: copyable and ==, with `std::string apply(const cmd::Command&)`.
// state_hash(model): equal for equal models (model/state_hash.h).
template <class Model>
CheckResult check_linearizable(const Model& initial, const std::vector<Operation>& history,
                               std::chrono::milliseconds budget,
                               const std::function<std::size_t(const Model&)>& state_hash);

// Splits `history` by key(op) and checks each part from `initial`; the
// verdict is the worst of the parts (kNotLinearizable > kUnknown > ok).
template <class Model>
CheckResult check_partitioned(const Model& initial, const std::vector<Operation>& history,
                              const std::function<int(const Operation&)>& key,
                              std::chrono::milliseconds budget,
                              const std::function<std::size_t(const Model&)>& state_hash);

std::string format_window(const std::vector<Operation>& history, const std::vector<bool>& placed);

// The HTML timeline (lincheck/timeline.h) of `history` and a kNotLinearizable
// result of its check, with `title` and the text report `report`.
std::string timeline_html(const std::vector<Operation>& history, const CheckResult& result,
                          const std::string& title, const std::string& report);

// Writes that timeline to <dir>/<name>.html, where dir is $MMV_LIN_HTML_DIR
// (made if missing), else the temporary directory, and returns the line for
// the failure message: "timeline: <path>\n", or why none was written.
std::string write_timeline(const std::vector<Operation>& history, const CheckResult& result,
                           const std::string& name, const std::string& title, const std::string& report);

// ---- implementation -------------------------------------------------------

// A command model for lin::check: the state is the model and its hash.
template <class Model>
struct CommandModel {
  struct State {
    Model model;
    std::size_t hash = 0;
  };
  using Input = cmd::Command;
  using Output = std::string;

  const std::function<std::size_t(const Model&)>* state_hash;

  State start(Model m) const {
    const std::size_t h = (*state_hash)(m);
    return State{std::move(m), h};
  }
  std::optional<State> step(const State& s, const Input& in, const Output* out) const {
    Model next = s.model;
    if (const std::string got = next.apply(in); out && got != *out) return std::nullopt;
    return start(std::move(next));
  }
  std::size_t hash(const State& s) const { return s.hash; }
  bool equal(const State& a, const State& b) const { return a.model == b.model; }
};

template <class LinModel>
CheckResult check_with(const LinModel& model, const typename LinModel::State& initial,
                       const std::vector<Operation>& history, std::chrono::milliseconds budget) {
  const lin::Result r = lin::check(model, initial, history, budget);
  CheckResult result;
  result.states = r.states;
  switch (r.verdict) {
    case lin::Verdict::kLinearizable:
      result.verdict = Verdict::kLinearizable;
      result.order = r.order;
      break;
    case lin::Verdict::kUnknown:
      result.verdict = Verdict::kUnknown;
      result.explanation = "search budget exhausted after " + std::to_string(r.states) + " states";
      break;
    case lin::Verdict::kNotLinearizable:
      result.verdict = Verdict::kNotLinearizable;
      result.explanation = format_window(history, r.deepest);
      result.placed = r.deepest;
      break;
  }
  return result;
}

template <class Model>
CheckResult check_linearizable(const Model& initial, const std::vector<Operation>& history,
                               std::chrono::milliseconds budget,
                               const std::function<std::size_t(const Model&)>& state_hash) {
  const CommandModel<Model> model{&state_hash};
  return check_with(model, model.start(initial), history, budget);
}

template <class Model>
CheckResult check_partitioned(const Model& initial, const std::vector<Operation>& history,
                              const std::function<int(const Operation&)>& key,
                              std::chrono::milliseconds budget,
                              const std::function<std::size_t(const Model&)>& state_hash) {
  CheckResult total;
  total.verdict = Verdict::kLinearizable;
  for (const auto& [k, part] : lin::partition(history, key)) {
    CheckResult r = check_linearizable(initial, part, budget, state_hash);
    total.states += r.states;
    if (r.verdict == Verdict::kNotLinearizable) {
      r.explanation = "key " + std::to_string(k) + ":\n" + r.explanation;
      r.states = total.states;
      for (std::size_t i = 0; i < history.size(); ++i)
        if (key(history[i]) == k) r.part.push_back(i);
      return r;
    }
    if (r.verdict == Verdict::kUnknown) {
      total.verdict = Verdict::kUnknown;
      total.explanation += "key " + std::to_string(k) + ": " + r.explanation + "\n";
    }
  }
  return total;
}

}  // namespace mmv::stress
