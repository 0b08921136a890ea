#include "stress/linearizability.h"

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "lincheck/timeline.h"

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

std::string timeline_html(const std::vector<Operation>& history, const CheckResult& result,
                          const std::string& title, const std::string& report) {
  std::vector<Operation> part;
  if (!result.part.empty())
    for (std::size_t i : result.part) part.push_back(history[i]);
  const std::vector<Operation>& checked = result.part.empty() ? history : part;
  const std::function<lin::OpText(const Operation&, std::size_t)> print = [](const Operation& op, std::size_t) {
    return lin::OpText{cmd::to_string(op.input), op.responded ? op.output : "unknown", ""};
  };
  lin::TimelineOptions options;
  options.title = title;
  options.lane = "thread";
  options.time_unit = "ns";
  options.report = report;
  return lin::timeline_html(checked, result.placed, print, options);
}

std::string write_timeline(const std::vector<Operation>& history, const CheckResult& result,
                           const std::string& name, const std::string& title, const std::string& report) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir;
  if (const char* d = std::getenv("MMV_LIN_HTML_DIR"); d && *d) {
    dir = d;
    fs::create_directories(dir, ec);
  } else {
    dir = fs::temp_directory_path(ec);
  }
  if (ec) return "no timeline: no directory for it (" + ec.message() + ")\n";
  const std::string path = (dir / (name + ".html")).string();
  std::string error;
  if (!lin::write_text_file(path, timeline_html(history, result, title, report), &error))
    return "no timeline: " + error + "\n";
  return "timeline: " + path + "\n";
}

}  // namespace mmv::stress
