// fault_table: each concurrency fault (stress/concurrency_faults.h) under
// OS threads and under each strategy of the controlled scheduler, side by
// side, as a Markdown table (docs/scheduler.md).
//
//   fault_table [--schedules N] [--os-seconds S] [--os-attempts K] [--fault kName]
//
// --schedules >= 1 (default 2000), --os-seconds > 0 (default 2),
// --os-attempts 1 to 1000 (default 3), --fault one of this build's
// concurrency faults; --name=value or --name value. Anything else is refused
// with exit status 2 (testing/cli.h).
//
// OS threads: K runs of S seconds each (seeds seed, seed+1, ...), with as
// many operations as fit; a cell says how many were caught and how long the
// first catch took. Each strategy: up to N schedules of the case's small
// bounded workload (dfs: preemption bound 2); a cell says at which schedule
// it was found and after how long, or that it was not.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "stress/concurrency_faults.h"
#include "testing/cli.h"

namespace mmv::stress {
namespace {

#if MMV_FAULTS

bool caught(const ConcurrencyFault& c, const ChildResult& r) {
  // A hang is a deadlock under OS threads.
  return c.caught(r.ending) || r.ending == Ending::kHang || r.ending == Ending::kLockdep;
}

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

std::string os_cell(const ConcurrencyFault& c, double seconds, int attempts) {
  int hits = 0;
  std::string first;
  for (int i = 0; i < attempts; ++i) {
    ConcurrencyFault one = c;
    one.seed = c.seed + static_cast<std::uint64_t>(i);
    one.ops = 1000000000;
    ChildRun run = fault_run(one, {"--seconds=" + fmt("%g", seconds)});
    // A deadlock under OS threads is a hang: killed a few seconds after
    // the run should have ended.
    run.timeout = std::chrono::seconds(static_cast<int>(seconds) + 5);
    const ChildResult r = run_child(run);
    if (!caught(c, r)) continue;
    if (hits++ == 0) first = std::string(ending_name(r.ending)) + " in " + fmt("%.2f s", r.seconds);
  }
  return std::to_string(hits) + "/" + std::to_string(attempts) + (hits ? ", first " + first : "");
}

// "found a failure at schedule S after T s" -> "S (T s)"; a run that ended
// before its summary: "S (T s, how)", T the child's wall time.
std::string sched_cell(const ConcurrencyFault& c, const std::vector<std::string>& args) {
  const ChildResult r = run_child(fault_run(c, args));
  const std::string line = sched_line(r.output);
  if (!caught(c, r)) {
    if (r.ending != Ending::kClean) return std::string("error: ") + ending_name(r.ending);
    // "N schedules (pct, depth 1), T s, R schedules/s" -> "none in N (T s)"
    const std::size_t close = line.find("), ");
    const std::size_t s = line.find(" s,", close);
    return "none in " + line.substr(0, line.find(' ')) +
           (close == std::string::npos || s == std::string::npos ? ""
                                                                 : " (" + line.substr(close + 3, s - close - 3) + " s)") +
           (line.find("exhausted") != std::string::npos ? ", exhausted" : "");
  }
  std::string which = failing_schedule(r.output);
  if (which.empty()) which = "?";
  if (line.find("at schedule ") != std::string::npos) {
    const std::size_t after = line.find(" after ");
    const std::size_t s = line.find(" s", after + 7);
    return which + " (" + line.substr(after + 7, s - after - 7) + " s)";
  }
  return which + " (" + fmt("%.2f", r.seconds) + " s, " + ending_name(r.ending) + ")";
}

int run(int argc, char** argv) {
  namespace cli = mmv::cli;
  constexpr std::string_view kProgram = "fault_table";
  (void)impl::fault_from_env_or_exit();  // the children's MMV_FAULT is set per case; a typo still fails
  std::string schedules = "2000", only;
  double os_seconds = 2;
  int os_attempts = 3;
  std::vector<std::string_view> faults;  // the concurrency faults of this build, for --fault
  for (const ConcurrencyFault& c : concurrency_faults()) faults.push_back(impl::fault_name(c.fault));
  const std::string usage = "usage: " + std::string(kProgram) + " [--schedules N] [--os-seconds S] [--os-attempts K] [--fault kName]\n";
  const cli::Parsed<std::vector<cli::Option>> split = cli::split_options(argc, argv, {"--help"});
  if (!split.value) cli::usage_exit(kProgram, split.error);
  for (const cli::Option& o : *split.value) {
    auto get = [&](auto parsed) { return cli::or_exit(std::move(parsed), kProgram); };
    if (o.name == "--help") {
      std::cout << usage
                << "Every concurrency fault of this build under OS threads and under each scheduler strategy,\n"
                   "as a Markdown table: the schedule that first caught it and the time to it.\n"
                   "Manual: docs/scheduler.md (the concurrency faults, side by side).\n";
      return 0;
    } else if (o.name == "--schedules") schedules = std::to_string(get(cli::parse_uint(o.name, o.value, 1, cli::kU64Max)));
    else if (o.name == "--os-seconds") os_seconds = get(cli::parse_seconds(o.name, o.value));
    else if (o.name == "--os-attempts") os_attempts = static_cast<int>(get(cli::parse_uint(o.name, o.value, 1, 1000)));
    else if (o.name == "--fault") only = get(cli::parse_choice(o.name, o.value, faults));
    else {
      std::cerr << kProgram << ": "
                << (o.name.empty() ? "unexpected argument '" + o.value + "'"
                                   : cli::unknown_option(o.name, {"--schedules", "--os-seconds", "--os-attempts", "--fault", "--help"}))
                << "\n" << usage;
      return cli::kUsageError;
    }
  }
  std::printf("| fault | workload | OS threads (%d x %g s) | random | pct d=1 | pct d=2 | pct d=3 | dfs, bound 2 |\n",
              os_attempts, os_seconds);
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const ConcurrencyFault& c : concurrency_faults()) {
    if (!only.empty() && only != impl::fault_name(c.fault)) continue;
    const std::string n = "--schedules=" + schedules;
    std::printf("| `%s` | %s, %d threads x %d ops | %s | %s | %s | %s | %s | %s |\n", impl::fault_name(c.fault),
                c.workload, c.threads, c.ops, os_cell(c, os_seconds, os_attempts).c_str(),
                sched_cell(c, {"--sched=random", n}).c_str(),
                sched_cell(c, {"--sched=pct", "--depth=1", n}).c_str(),
                sched_cell(c, {"--sched=pct", "--depth=2", n}).c_str(),
                sched_cell(c, {"--sched=pct", "--depth=3", n}).c_str(),
                sched_cell(c, {"--sched=dfs", "--bound=2", n}).c_str());
    std::fflush(stdout);
  }
  return 0;
}

#else
int run(int, char**) {
  std::cerr << "fault_table: this build has no fault switch (CMake option MMV_FAULTS is off)\n";
  return 2;
}
#endif

}  // namespace
}  // namespace mmv::stress

int main(int argc, char** argv) { return mmv::stress::run(argc, argv); }
