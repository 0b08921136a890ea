// The concurrency faults of the fault switch (impl/fault_switch.h), each
// with the workload that exposes it and the stress_runner arguments under
// which the controlled scheduler (sched/sched.h) finds it within the CI
// budget. One list, read by the test that proves each is found and replays
// exactly (stress/sched_catch_test.cc) and by the side-by-side comparison
// of OS threads and every strategy (stress/fault_table_main.cc).
//
// A case names the endings that count as caught: the workload's verdict,
// the scheduler's deadlock report, lockdep, a sanitizer or a crash (see
// stress/child_run.h). Faults only ThreadSanitizer can see are listed only
// in TSan builds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "impl/fault_switch.h"
#include "stress/child_run.h"

namespace mmv::stress {

#if MMV_FAULTS

struct ConcurrencyFault {
  impl::Fault fault;
  const char* workload;  // stress_runner --test=
  int threads;
  int ops;  // per thread
  std::uint64_t seed;
  // The --sched arguments that find it in the CI budget.
  std::vector<std::string> find;
  std::vector<Ending> catches;
  // More environment for the child, e.g. MMV_LOCKDEP=off.
  std::vector<std::pair<std::string, std::string>> env = {};

  // Whether a child ending `e` counts as this fault caught.
  bool caught(Ending e) const { return std::find(catches.begin(), catches.end(), e) != catches.end(); }
};

// The cases this build can show (TSan-only ones in TSan builds).
const std::vector<ConcurrencyFault>& concurrency_faults();

// For test names (gtest prints a parameter with this): the fault's name.
inline void PrintTo(const ConcurrencyFault& c, std::ostream* os) { *os << impl::fault_name(c.fault); }

// stress_runner with the case's fault, workload, threads, ops and seed,
// plus `args` (e.g. its `find`, or --seconds for OS threads).
ChildRun fault_run(const ConcurrencyFault& c, const std::vector<std::string>& args);

#endif  // MMV_FAULTS

// From stress_runner's output: the schedule of its last "replay:" line,
// and its "sched: ..." summary line ("" when absent).
std::string printed_schedule(const std::string& output);
std::string sched_line(const std::string& output);
// The number of the schedule that failed first: the summary's "at schedule
// N", or for a run that ended before its summary (a crash, a sanitizer, a
// deadlock), the random or PCT schedule in progress (seed N is schedule N).
// "" when neither is printed.
std::string failing_schedule(const std::string& output);
// The last "replay:" line as a run: its NAME=value words are the
// environment, the rest the command (quotes taken off). Empty argv if
// there is none.
ChildRun printed_replay(const std::string& output);

}  // namespace mmv::stress
