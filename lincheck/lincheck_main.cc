// lincheck: checks recorded histories for linearizability against a named
// sequential model, with the generic checker of lincheck/lincheck.h.
//
//   lincheck --model=cas-register|kv [--format=auto|jepsen|edn]
//            [--budget=SECONDS] [--max-memory=MIB] [--html=PAGE] FILE...
//
// Formats and the meaning of :ok, :fail and :info: lincheck/history_file.h.
// Models: lincheck/models.h. The kv model is checked one key at a time,
// the keys on every core (lin::check_parts), the first refuted one ending
// the others; --budget and --max-memory bound each part.
// Per file it prints the verdict, the operations, the states searched and
// the time; for a violation, the operations around the first one no order
// could place, with their lines in the file; with --html (one FILE), also
// an HTML timeline of the violation (lincheck/timeline.h) at PAGE.
//
// Exit status: 0 every file linearizable; 1 a file is not; 3 a check ran
// out of --budget or --max-memory (and none failed); 2 bad usage or input.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "lincheck/history_file.h"
#include "lincheck/timeline.h"
#include "lincheck/models.h"
#include "lincheck/lincheck.h"
#include "lincheck/parts.h"
#include "testing/cli.h"

namespace {

using mmv::history::Operation;
using mmv::history::ParseError;
using mmv::history::Type;
using mmv::history::Value;
namespace lin = mmv::lin;

struct Options {
  std::string model;
  std::string format = "auto";
  double budget = 60;
  std::uint64_t max_memory = 1024;  // MiB the search may remember, per part
  std::string html;                 // the timeline page of a violation ("": none)
  std::vector<std::string> files;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "lincheck: " << problem << "\n"
            << "usage: lincheck --model=cas-register|kv [--format=auto|jepsen|edn] [--budget=SECONDS] [--max-memory=MIB] [--html=PAGE] FILE...\n";
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << "usage: lincheck --model=cas-register|kv [--format=auto|jepsen|edn] [--budget=SECONDS] [--max-memory=MIB] [--html=PAGE] FILE...\n"
                   "Checks each history FILE for linearizability against the model.\n"
                   "--html=PAGE: for a violation, also an HTML timeline of it at PAGE (one FILE only).\n"
                   "Exit status: 0 linearizable, 1 not linearizable, 3 out of budget, 2 bad usage or input.\n"
                   "Manual: docs/lincheck.md.\n";
      std::exit(0);
    }
    if (a.rfind("--", 0) != 0) {
      o.files.push_back(a);
      continue;
    }
    const std::size_t eq = a.find('=');
    if (eq == std::string::npos) usage("option " + a + " needs a value (" + a + "=...)");
    const std::string name = a.substr(0, eq), value = a.substr(eq + 1);
    if (name == "--model") {
      if (value != "cas-register" && value != "kv") usage("unknown model '" + value + "'");
      o.model = value;
    } else if (name == "--format") {
      if (value != "auto" && value != "jepsen" && value != "edn") usage("unknown format '" + value + "'");
      o.format = value;
    } else if (name == "--budget") {
      const auto p = mmv::cli::parse_seconds(name, value);
      if (!p.value) usage(p.error);
      o.budget = *p.value;
    } else if (name == "--max-memory") {  // at most 1 TiB: MiB << 20 must not overflow
      const auto p = mmv::cli::parse_uint(name, value, 1, std::uint64_t{1} << 20);
      if (!p.value) usage(p.error);
      o.max_memory = *p.value;
    } else if (name == "--html") {
      if (value.empty()) usage("--html needs the path of the page to write");
      o.html = value;
    } else {
      usage("unknown option " + name);
    }
  }
  if (o.model.empty()) usage("--model is required");
  if (o.files.empty()) usage("no history file");
  if (!o.html.empty() && o.files.size() > 1) usage("--html takes one history file");
  return o;
}

std::string lines_of(const Operation& op) {
  return "lines " + std::to_string(op.call_line) + "-" + (op.ret_line ? std::to_string(op.ret_line) : "");
}

std::string describe(const Operation& op) {
  std::string s = ":" + op.f + " " + op.input.edn() + " -> " + std::string(mmv::history::type_name(op.outcome));
  if (op.ret_line && op.output.kind != Value::kNil) s += " " + op.output.edn();
  if (!op.ret_line) s += " (never completed)";
  return s;
}

std::string command_of(const Operation& op) { return ":" + op.f + " " + op.input.edn(); }

std::string outcome_of(const Operation& op) {
  if (!op.ret_line) return "never completed";
  std::string s(mmv::history::type_name(op.outcome));
  if (op.output.kind != Value::kNil) s += " " + op.output.edn();
  return s;
}

struct Outcome {
  lin::Verdict verdict = lin::Verdict::kLinearizable;
  std::uint64_t states = 0;
  std::string window;
  std::string part;  // the violation's part: "" or "key \"9\""
  // The violation's timeline page (set with the verdict kNotLinearizable);
  // it refers to the parts checked, which must outlive it.
  std::function<std::string(const lin::TimelineOptions&)> page;
};

template <class Model>
Outcome check_parts(const std::vector<lin::Part<Model>>& parts, const typename Model::State& initial,
                    std::chrono::milliseconds budget, std::uint64_t max_bytes) {
  Outcome out;
  const Model model;
  std::vector<const std::vector<lin::Op<typename Model::Input, typename Model::Output>>*> ops;
  for (const lin::Part<Model>& part : parts) ops.push_back(&part.ops);
  const lin::PartsResult all = lin::check_parts(model, initial, ops, budget, max_bytes);
  out.states = all.states;
  out.verdict = all.verdict;
  if (all.verdict != lin::Verdict::kNotLinearizable) return out;
  const lin::Part<Model>& part = parts[all.refuted];
  const lin::Result& r = all.parts[all.refuted];
  std::ostringstream os;
  os << "  " << (part.label.empty() ? "" : part.label + ": ")
     << "no order fits the model; per process, around the first operation the longest partial order could "
        "not place:\n";
  const auto window = lin::window(part.ops, r.deepest);
  std::size_t width = 0;
  for (const auto& [process, ops] : window)
    for (std::size_t i : ops) width = std::max(width, lines_of(*part.source[i]).size());
  for (const auto& [process, ops] : window) {
    os << "    process " << process << ":\n";
    for (std::size_t i : ops) {
      const std::string where = lines_of(*part.source[i]);
      os << "      " << (r.deepest[i] ? "  placed " : "UNPLACED ") << where << std::string(width + 2 - where.size(), ' ')
         << describe(*part.source[i]) << '\n';
    }
  }
  out.window = os.str();
  out.part = part.label;
  out.page = [&part, placed = r.deepest](const lin::TimelineOptions& options) {
    using Op = lin::Op<typename Model::Input, typename Model::Output>;
    const std::function<lin::OpText(const Op&, std::size_t)> print = [&part](const Op&, std::size_t i) {
      const Operation& h = *part.source[i];
      lin::OpText t{command_of(h), outcome_of(h), ""};
      if (h.key) {
        Value key;
        key.kind = Value::kString;
        key.text = *h.key;
        t.detail = "key " + key.edn();
      }
      return t;
    };
    // Drawn with the lines as times (in the same order as the events the
    // checker was given), so the page speaks of lines like the report.
    std::vector<Op> by_line = part.ops;
    for (std::size_t i = 0; i < by_line.size(); ++i) {
      by_line[i].call = static_cast<std::uint64_t>(part.source[i]->call_line);
      by_line[i].ret = static_cast<std::uint64_t>(part.source[i]->ret_line);
    }
    return lin::timeline_html(by_line, placed, print, options);
  };
  return out;
}

// Checks one file; returns its exit status.
int check_file(const Options& o, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "lincheck: cannot read " << path << "\n";
    return 2;
  }
  try {
    std::optional<mmv::history::Format> format;
    if (o.format == "jepsen") format = mmv::history::Format::kJepsenLog;
    else if (o.format == "edn") format = mmv::history::Format::kEdnLines;
    else format = mmv::history::sniff(in);
    if (!format) throw ParseError(1, "neither a Jepsen log nor EDN lines (no operation found)");
    const std::vector<Operation> history = mmv::history::pair_events(mmv::history::read_events(in, *format));
    if (history.empty()) throw ParseError(1, "no operation found");
    std::size_t unknown = 0, failed = 0;
    std::map<int, int> clients;
    for (const Operation& op : history) {
      unknown += op.outcome == Type::kInfo;
      failed += op.outcome == Type::kFail;
      ++clients[op.process];
    }
    const auto budget = std::chrono::milliseconds(static_cast<std::int64_t>(o.budget * 1000));
    const auto t0 = std::chrono::steady_clock::now();
    Outcome out;
    std::size_t parts = 1;
    // The parts outlive the check: a violation's page refers to them.
    std::vector<lin::Part<lin::CasRegister>> register_history;
    std::vector<lin::Part<lin::KvKey>> kv;
    if (o.model == "cas-register") {
      register_history = lin::register_parts(history);
      out = check_parts(register_history, lin::CasRegister::State{}, budget, o.max_memory << 20);
    } else {
      kv = lin::kv_parts(history);
      parts = kv.size();
      out = check_parts(kv, lin::KvKey::State{}, budget, o.max_memory << 20);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const char* verdict = out.verdict == lin::Verdict::kLinearizable      ? "linearizable"
                          : out.verdict == lin::Verdict::kNotLinearizable ? "NOT linearizable"
                                                                          : "unknown (out of --budget or --max-memory)";
    std::ostringstream report;
    report << path << ": " << verdict << " (" << mmv::history::format_name(*format) << ", " << o.model << ")\n";
    report << "  " << history.size() << " operations (" << unknown << " with unknown outcome, " << failed
           << " failed), " << clients.size() << " processes, " << parts << " "
           << (o.model == "kv" ? "keys" : "register") << "\n";
    char searched[96];
    std::snprintf(searched, sizeof searched, "  %llu states searched in %.3f s\n",
                  static_cast<unsigned long long>(out.states), seconds);
    report << searched << out.window;
    std::printf("%s", report.str().c_str());
    if (!o.html.empty() && out.verdict == lin::Verdict::kNotLinearizable) {
      lin::TimelineOptions options;
      options.title = path + (out.part.empty() ? "" : ", " + out.part) + ": NOT linearizable (" + o.model + ")";
      options.lane = "process";
      options.time_unit = "line";
      options.report = report.str();
      std::string error;
      if (!lin::write_text_file(o.html, out.page(options), &error)) {
        std::fflush(stdout);
        std::cerr << "lincheck: the timeline: " << error << "\n";
        return 2;
      }
      std::printf("  timeline: %s\n", o.html.c_str());
    }
    return out.verdict == lin::Verdict::kLinearizable ? 0 : out.verdict == lin::Verdict::kNotLinearizable ? 1 : 3;
  } catch (const ParseError& e) {
    std::cerr << "lincheck: " << path << ": " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  int worst = 0;
  auto rank = [](int status) { return status == 2 ? 3 : status == 1 ? 2 : status == 3 ? 1 : 0; };
  for (const std::string& f : o.files) {
    const int status = check_file(o, f);
    if (rank(status) > rank(worst)) worst = status;
  }
  return worst;
}
