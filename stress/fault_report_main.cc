// fault_report: every fault of the catalogue (impl/fault_switch.h,
// kFaultCatalogue) run at the CI budget by the suite that catches it, one
// Markdown row each: fault, the real bug, class, caught by, cases or
// schedules to failure, seconds, counterexample length.
//
//   fault_report [--here] [--sanitizer-only] [--list]
//
// A sequential fault is run by fault_detection_test (the model-vs-impl
// property at its CI parameters, shrunk); a concurrent one by its case of
// stress/concurrency_faults.cc (the controlled scheduler, shrunk). Faults
// that only a sanitizer catches are run in the build that has it; in other
// builds their row says which preset (--here leaves them out;
// --sanitizer-only runs only those). --list prints the catalogue's fault
// names, one a line.
//
// Exit status: 0 when every fault run here was caught, 1 when one survived,
// 2 on bad arguments. scripts/fault-report runs it in the default, asan and
// tsan presets and checks that every fault was caught somewhere.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "impl/sanitizers.h"
#include "stress/concurrency_faults.h"

#ifndef MMV_FAULT_DETECTION_TEST
#error "MMV_FAULT_DETECTION_TEST (the path of fault_detection_test) is set by stress/CMakeLists.txt"
#endif

namespace mmv::stress {
namespace {

#if MMV_FAULTS

struct Row {
  bool caught = false;
  std::string by, to_failure, seconds, length;
};

std::string after(const std::string& text, const std::string& key, const std::string& until) {
  const std::size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const std::size_t from = at + key.size();
  return text.substr(from, text.find(until, from) - from);
}

// A Markdown table cell: '|' would end it.
std::string cell(const std::string& text) {
  std::string out;
  for (char ch : text) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// "fault kX: found after N cases, T s, shrunk to L commands"
Row property_row(impl::Fault f) {
  ChildRun run;
  const std::string name = std::string(impl::fault_name(f)).substr(1);
  run.argv = {MMV_FAULT_DETECTION_TEST,
              "--gtest_filter=AllFaults/FaultDetection.FoundAndShrunkWithinDefaultBudget/" + name};
  run.timeout = std::chrono::seconds(300);
  const ChildResult r = run_child(run);
  Row row;
  const std::string line = after(r.output, std::string("fault ") + impl::fault_name(f) + ": ", "\n");
  row.caught = r.exit_code == 0 && !line.empty() && r.output.find("[  PASSED  ] 1 test") != std::string::npos;
  row.by = "model-vs-impl property";
  row.to_failure = after(line, "found after ", ",");
  row.seconds = after(line, "cases, ", " s");
  row.length = after(line, "shrunk to ", "\n");
  if (!row.caught && line.empty()) row.by += " (not found: " + std::string(ending_name(r.ending)) + ")";
  return row;
}

Row sched_row(const ConcurrencyFault& c) {
  const ChildResult r = run_child(fault_run(c, c.find));
  Row row;
  row.caught = c.caught(r.ending);
  row.by = std::string("scheduler (") + c.find[0].substr(8) + "), " + c.workload + ": " + ending_name(r.ending);
  const std::string at = failing_schedule(r.output);
  row.to_failure = at.empty() ? "?" : "schedule " + at;
  row.seconds = fmt(r.seconds);
  // "shrunk: 50 ops per thread -> 1, 3 preemptions -> 1"
  const std::string shrunk = after(r.output, "shrunk: ", "\n");
  const std::string ops = after(shrunk, "-> ", ","), preemptions = after(shrunk, "preemptions -> ", "\n");
  row.length = std::to_string(c.threads) + " threads x " + (ops.empty() ? std::to_string(c.ops) : ops) + " ops" +
               (preemptions.empty() ? ", not shrunk" : ", " + preemptions + " preemptions");
  return row;
}

std::optional<ConcurrencyFault> case_of(impl::Fault f) {
  for (const ConcurrencyFault& c : concurrency_faults())
    if (c.fault == f) return c;
  return std::nullopt;
}

int run(int argc, char** argv) {
  // The children's MMV_FAULT is set per fault; a typo in ours still fails.
  (void)impl::fault_from_env_or_exit();
  bool here = false, sanitizer_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--here") {
      here = true;
    } else if (a == "--sanitizer-only") {
      sanitizer_only = true;
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: fault_report [--here] [--sanitizer-only] [--list]\n"
                  "Every fault of the catalogue run by the suite that catches it, as a Markdown table;\n"
                  "scripts/fault-report runs it in the default, asan and tsan builds.\n"
                  "Manual: docs/faults.md.\n");
      return 0;
    } else if (a == "--list") {
      for (const impl::FaultInfo& f : impl::kFaultCatalogue) std::printf("%s\n", impl::fault_name(f.fault));
      return 0;
    } else {
      std::cerr << "fault_report: unknown argument '" << a << "'; the arguments are --here, --sanitizer-only, --list, --help"
                << "\nusage: " << argv[0]
                << " [--here] [--sanitizer-only] [--list]\n";
      return 2;
    }
  }
  if (!here) {
    std::printf("| fault | real bug or rule | class | caught by | to failure | seconds | counterexample |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  }
  int survived = 0;
  for (const impl::FaultInfo& f : impl::kFaultCatalogue) {
    const std::string suite = f.suite;
    if (sanitizer_only && suite.find('(') == std::string::npos) continue;
    std::optional<Row> row;
    if (suite == "property") {
      row = property_row(f.fault);
    } else if (const std::optional<ConcurrencyFault> c = case_of(f.fault)) {
      row = sched_row(*c);
    }
    if (!row && here) continue;
    if (!row) {
      std::printf("| `%s` | %s | %s | %s: run in that preset | | | |\n", impl::fault_name(f.fault),
                  cell(f.real_bug).c_str(), f.bug_class, f.suite);
      continue;
    }
    if (!row->caught) ++survived;
    std::printf("| `%s` | %s | %s | %s | %s | %s | %s |\n", impl::fault_name(f.fault), cell(f.real_bug).c_str(),
                f.bug_class,
                (row->caught ? row->by : "SURVIVED: " + row->by).c_str(), row->to_failure.c_str(),
                row->seconds.c_str(), row->length.c_str());
    std::fflush(stdout);
  }
  if (survived) std::fprintf(stderr, "fault_report: %d fault(s) survived\n", survived);
  return survived ? 1 : 0;
}

#else
int run(int, char**) {
  std::cerr << "fault_report: this build has no fault switch (CMake option MMV_FAULTS is off)\n";
  return 2;
}
#endif

}  // namespace
}  // namespace mmv::stress

int main(int argc, char** argv) { return mmv::stress::run(argc, argv); }
