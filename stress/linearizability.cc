#include "stress/linearizability.h"

#include <map>
#include <sstream>

namespace mmv::stress {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kLinearizable: return "linearizable";
    case Verdict::kNotLinearizable: return "NOT linearizable";
    case Verdict::kUnknown: return "unknown (budget exhausted)";
  }
  return "?";
}

std::string format_window(const std::vector<Operation>& history, const std::vector<bool>& placed) {
  // Per thread: the last operation that could be placed, the first that
  // could not, and the one after it.
  std::map<int, std::vector<std::size_t>> by_thread;
  for (std::size_t i = 0; i < history.size(); ++i) by_thread[history[i].client].push_back(i);
  std::ostringstream os;
  os << "no order of the remaining operations matches the model; per thread, around the "
        "first operation the deepest partial order could not place:\n";
  for (const auto& [thread, ops] : by_thread) {
    std::size_t first_unplaced = ops.size();
    for (std::size_t k = 0; k < ops.size(); ++k) {
      if (!placed[ops[k]]) {
        first_unplaced = k;
        break;
      }
    }
    os << "  thread " << thread << ":";
    if (first_unplaced == ops.size()) {
      os << " all placed\n";
      continue;
    }
    os << '\n';
    const std::size_t from = first_unplaced == 0 ? 0 : first_unplaced - 1;
    const std::size_t to = std::min(ops.size(), first_unplaced + 2);
    for (std::size_t k = from; k < to; ++k) {
      const Operation& op = history[ops[k]];
      os << "    " << (placed[ops[k]] ? "  placed " : "UNPLACED ") << '[' << op.call << ", "
         << op.ret << "] " << cmd::to_string(op.input) << " -> " << op.output << '\n';
    }
  }
  return os.str();
}

}  // namespace mmv::stress
