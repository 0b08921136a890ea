#include "stress/linearizability.h"

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
  std::ostringstream os;
  os << "no order of the remaining operations matches the model; per thread, around the "
        "first operation the deepest partial order could not place:\n";
  for (const auto& [thread, ops] : lin::window(history, placed)) {
    os << "  thread " << thread << ":\n";
    for (std::size_t i : ops) {
      const Operation& op = history[i];
      os << "    " << (placed[i] ? "  placed " : "UNPLACED ") << '[' << op.call << ", " << op.ret << "] "
         << cmd::to_string(op.input) << " -> " << op.output << '\n';
    }
  }
  return os.str();
}

}  // namespace mmv::stress
