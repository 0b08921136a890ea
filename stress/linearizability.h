// A linearizability checker for recorded histories of concurrent commands
// (testing/command.h), against a sequential model: is there an order of the
// operations, consistent with real time (an operation that responded before
// another was invoked comes first), in which the model gives every
// operation the response the implementation gave?
//
// The search is Wing & Gong's, with Lowe's memoisation: a DFS that at each
// step tries every operation that may come next, applies it to a copy of
// the model, keeps it only if the model answers as recorded, and never
// revisits a (set of linearized operations, model state) pair. It is bounded
// in time: past the budget the verdict is kUnknown, never a guess.
//
// P-compositionality (Horn & Kroening): when operations on different keys
// (say, different VMAs) are independent in the model, the history is
// linearizable iff each key's sub-history is; check_partitioned() splits the
// history with a caller-supplied key and checks each part on its own, which
// turns one exponential search into several small ones. The caller is
// responsible for the independence (the stress tests give each key its own
// VMA, far from the others, so no merge, split or table is shared in a way
// the model could see).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "testing/command.h"

namespace mmv::stress {

struct Operation {
  int thread = 0;
  std::uint64_t invoke = 0;    // monotonic timestamps (ns); invoke < response
  std::uint64_t response = 0;
  cmd::Command command;
  std::string outcome;
};

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };
const char* verdict_name(Verdict v);

struct CheckResult {
  Verdict verdict = Verdict::kUnknown;
  std::vector<std::size_t> order;  // a witness order (indices into the history) when linearizable
  std::uint64_t states = 0;        // search nodes visited
  // When not linearizable: per thread, the operations around the first one
  // the deepest partial linearization could not place ("the minimal
  // non-linearizable window"), formatted for printing.
  std::string explanation;
};

// Model: copyable, with `std::string apply(const cmd::Command&)`.
// state_key(model): a string that is equal for equal model states.
template <class Model>
CheckResult check_linearizable(const Model& initial, const std::vector<Operation>& history,
                               std::chrono::milliseconds budget,
                               const std::function<std::string(const Model&)>& state_key);

// Splits `history` by key(op) and checks each part from `initial`; the
// verdict is the worst of the parts (kNotLinearizable > kUnknown > ok).
template <class Model>
CheckResult check_partitioned(const Model& initial, const std::vector<Operation>& history,
                              const std::function<int(const Operation&)>& key,
                              std::chrono::milliseconds budget,
                              const std::function<std::string(const Model&)>& state_key);

std::string format_window(const std::vector<Operation>& history, const std::vector<bool>& placed);

// ---- implementation -------------------------------------------------------

template <class Model>
CheckResult check_linearizable(const Model& initial, const std::vector<Operation>& history,
                               std::chrono::milliseconds budget,
                               const std::function<std::string(const Model&)>& state_key) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + budget;
  const std::size_t n = history.size();
  CheckResult result;
  std::vector<bool> done(n, false);
  std::vector<std::size_t> order;
  std::vector<bool> deepest_done(n, false);
  std::size_t deepest = 0;
  std::unordered_set<std::string> seen;
  bool out_of_time = false;

  auto memo_key = [&](const Model& m) {
    std::string k(n, '0');
    for (std::size_t i = 0; i < n; ++i)
      if (done[i]) k[i] = '1';
    return k + '|' + state_key(m);
  };

  std::function<bool(const Model&)> dfs = [&](const Model& m) -> bool {
    ++result.states;
    if (order.size() == n) return true;
    if ((result.states & 255) == 0 && Clock::now() > deadline) {
      out_of_time = true;
      return false;
    }
    // An operation may come next only if no other pending operation
    // responded before it was invoked.
    std::uint64_t first_response = UINT64_MAX;
    for (std::size_t i = 0; i < n; ++i)
      if (!done[i]) first_response = std::min(first_response, history[i].response);
    for (std::size_t i = 0; i < n && !out_of_time; ++i) {
      if (done[i] || history[i].invoke > first_response) continue;
      Model next = m;
      if (next.apply(history[i].command) != history[i].outcome) continue;
      done[i] = true;
      order.push_back(i);
      if (order.size() > deepest) {
        deepest = order.size();
        deepest_done = done;
      }
      if (seen.insert(memo_key(next)).second && dfs(next)) return true;
      done[i] = false;
      order.pop_back();
    }
    return false;
  };

  if (dfs(initial)) {
    result.verdict = Verdict::kLinearizable;
    result.order = order;
  } else if (out_of_time) {
    result.verdict = Verdict::kUnknown;
    result.explanation = "search budget exhausted after " + std::to_string(result.states) + " states";
  } else {
    result.verdict = Verdict::kNotLinearizable;
    result.explanation = format_window(history, deepest_done);
  }
  return result;
}

template <class Model>
CheckResult check_partitioned(const Model& initial, const std::vector<Operation>& history,
                              const std::function<int(const Operation&)>& key,
                              std::chrono::milliseconds budget,
                              const std::function<std::string(const Model&)>& state_key) {
  std::vector<int> keys;
  std::vector<std::vector<Operation>> parts;
  for (const Operation& op : history) {
    const int k = key(op);
    std::size_t p = 0;
    while (p < keys.size() && keys[p] != k) ++p;
    if (p == keys.size()) {
      keys.push_back(k);
      parts.emplace_back();
    }
    parts[p].push_back(op);
  }
  CheckResult total;
  total.verdict = Verdict::kLinearizable;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    CheckResult r = check_linearizable(initial, parts[p], budget, state_key);
    total.states += r.states;
    if (r.verdict == Verdict::kNotLinearizable) {
      r.explanation = "key " + std::to_string(keys[p]) + ":\n" + r.explanation;
      r.states = total.states;
      return r;
    }
    if (r.verdict == Verdict::kUnknown) {
      total.verdict = Verdict::kUnknown;
      total.explanation += "key " + std::to_string(keys[p]) + ": " + r.explanation + "\n";
    }
  }
  return total;
}

}  // namespace mmv::stress
