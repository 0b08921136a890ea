// The controlled scheduler on the stress workloads: a concurrency fault of
// the fault switch, with no widening yield (its load and store are
// scheduling points of their own), is found by PCT within a small budget,
// and the printed schedule replays the failure 10 times out of 10.
#include <gtest/gtest.h>

#include <sstream>

#include "stress/child_run.h"

namespace mmv::stress {
namespace {

// The value of `replay: ...`'s MMV_SCHEDULE='...' in the output, or "".
std::string printed_schedule(const std::string& output) {
  const std::size_t at = output.rfind("MMV_SCHEDULE='");
  if (at == std::string::npos) return "";
  const std::size_t from = at + 14, to = output.find('\'', from);
  return to == std::string::npos ? "" : output.substr(from, to - from);
}

// stress_runner's "sched: ..." summary line, or "".
std::string sched_line(const std::string& output) {
  const std::size_t at = output.find("sched: ");
  return at == std::string::npos ? "" : output.substr(at + 7, output.find('\n', at) - at - 7);
}

bool failed(const ChildResult& r) {
  return r.ending == Ending::kVerdict || r.ending == Ending::kCrash || r.ending == Ending::kAsan ||
         r.ending == Ending::kTsan || r.ending == Ending::kUbsan;
}

// stress_runner on the refcount workload (seed 1) with kMmgetNotZeroRacy
// switched on, and `args`.
ChildRun racy_refcount(const std::vector<std::string>& args) {
  ChildRun run;
  run.argv = {MMV_STRESS_RUNNER, "--test=refcount", "--seed=1"};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  run.env = {{"MMV_FAULT", "kMmgetNotZeroRacy"}, {"MALLOC_PERTURB_", "165"}};
  return run;
}

TEST(SchedCatch, MmgetNotZeroRacyIsFoundByPctAndReplaysExactly) {
  const ChildRun find =
      racy_refcount({"--threads=4", "--ops=50", "--sched=pct", "--depth=2", "--schedules=200"});
  const ChildResult found = run_child(find);
  ASSERT_TRUE(failed(found)) << "not found in 200 PCT schedules: " << ending_name(found.ending) << "\n"
                             << found.output;
  const std::string schedule = printed_schedule(found.output);
  ASSERT_FALSE(schedule.empty()) << "no replay line printed:\n" << found.output;
  std::printf("sched: kMmgetNotZeroRacy, refcount: %s\n", sched_line(found.output).c_str());

  ChildRun replay = racy_refcount({"--threads=4", "--ops=50"});
  replay.env.push_back({"MMV_SCHEDULE", schedule});
  for (int i = 0; i < 10; ++i) {
    const ChildResult r = run_child(replay);
    EXPECT_TRUE(failed(r)) << "replay " << i << " came back " << ending_name(r.ending) << "\n" << r.output;
    // A verdict replays to the same words; a crash to a crash (where the
    // heap breaks first may vary with its addresses).
    EXPECT_EQ(r.ending == Ending::kVerdict, found.ending == Ending::kVerdict) << "replay " << i << "\n" << r.output;
    if (found.ending == Ending::kVerdict) {
      EXPECT_EQ(r.evidence, found.evidence) << "replay " << i;
    }
  }
}

// DFS under a preemption bound finds the same fault systematically, and
// the failing schedule is shrunk before it is printed.
TEST(SchedCatch, DfsFindsMmgetNotZeroRacyAndShrinksItsSchedule) {
  const ChildResult r =
      run_child(racy_refcount({"--threads=2", "--ops=10", "--sched=dfs", "--bound=2", "--schedules=5000"}));
  ASSERT_TRUE(failed(r)) << ending_name(r.ending) << "\n" << r.output;
  EXPECT_NE(r.output.find("dfs (bound 2) found a failure at schedule"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("shrunk: "), std::string::npos) << r.output;
  EXPECT_FALSE(printed_schedule(r.output).empty()) << r.output;
  std::printf("sched: kMmgetNotZeroRacy, refcount: %s\n", sched_line(r.output).c_str());
}

TEST(SchedCatch, TheUnfaultedWorkloadsPassUnderTheScheduler) {
  for (const char* test : {"refcount", "vmalock", "mmaplock", "zap", "teardown", "teardown-async"}) {
    ChildRun run;
    run.argv = {MMV_STRESS_RUNNER, std::string("--test=") + test, "--threads=3", "--seed=3", "--ops=40",
                "--sched=pct", "--depth=3", "--schedules=20"};
    const ChildResult r = run_child(run);
    EXPECT_EQ(r.ending, Ending::kClean) << test << ":\n" << r.output;
    std::printf("sched: %s, no fault: %s\n", test, sched_line(r.output).c_str());
    EXPECT_NE(r.output.find("20 schedules"), std::string::npos) << test << ":\n" << r.output;
  }
}

}  // namespace
}  // namespace mmv::stress
