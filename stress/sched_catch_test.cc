// The controlled scheduler on the stress workloads. Each concurrency fault
// of the fault switch, with no widening yield, is found within the CI
// budget by the strategy its case names (stress/concurrency_faults.h), and
// the schedule printed on its replay line replays the same failure 10 times
// out of 10. The unfaulted workloads pass under the scheduler.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "stress/concurrency_faults.h"

namespace mmv::stress {
namespace {

std::string Tail(const std::string& s, std::size_t n = 4000) {
  return s.size() <= n ? s : "[...]\n" + s.substr(s.size() - n);
}

#if MMV_FAULTS

class SchedCatch : public testing::TestWithParam<ConcurrencyFault> {};

TEST_P(SchedCatch, FoundWithinTheBudgetAndReplaysExactly) {
  const ConcurrencyFault& c = GetParam();
  const ChildRun find = fault_run(c, c.find);
  const ChildResult found = run_child(find);
  ASSERT_TRUE(c.caught(found.ending)) << impl::fault_name(c.fault) << " ended " << ending_name(found.ending)
                      << ", not a way it is caught\n  " << shell_line(find) << "\n" << Tail(found.output);
  const std::string schedule = printed_schedule(found.output);
  ASSERT_FALSE(schedule.empty()) << "no replay line printed:\n" << Tail(found.output);
  // A crash, a sanitizer or a deadlock ends the process before the
  // summary line: then the time and the schedule it was in.
  const std::string line = sched_line(found.output);
  std::printf("sched: %s, %s: %s (%s)\n", impl::fault_name(c.fault), c.workload,
              (line.empty() ? "found in " + std::to_string(found.seconds) + " s, in schedule " + schedule : line).c_str(),
              ending_name(found.ending));

  // The printed line itself, word for word (shrinking may have lowered --ops).
  ChildRun replay = printed_replay(found.output);
  ASSERT_FALSE(replay.argv.empty()) << Tail(found.output);
  // With the same sanitizer settings as the find (fault_run may turn
  // TSan's reports off).
  for (const auto& kv : find.env)
    if (kv.first == "TSAN_OPTIONS") replay.env.push_back(kv);
  for (int i = 0; i < 10; ++i) {
    const ChildResult r = run_child(replay);
    ASSERT_EQ(r.ending, found.ending) << "replay " << i << " of " << shell_line(replay) << "\n" << Tail(r.output);
    // The verdict and the deadlock report replay word for word; a
    // sanitizer's report or a crash names addresses and ids that vary.
    if (found.ending == Ending::kVerdict || found.ending == Ending::kDeadlock) {
      EXPECT_EQ(r.evidence, found.evidence) << "replay " << i;
    }
  }
}

// The same children with the fault off come back clean (at most 200
// schedules each): what the test above counts as a catch is the fault's.
TEST_P(SchedCatch, WithoutTheFaultTheSameRunsComeBackClean) {
  ConcurrencyFault off = GetParam();
  off.fault = impl::Fault::kNone;
  for (std::string& a : off.find) {
    if (a.rfind("--schedules=", 0) == 0 && std::stoull(a.substr(12)) > 200) a = "--schedules=200";
  }
  const ChildRun run = fault_run(off, off.find);
  const ChildResult r = run_child(run);
  EXPECT_EQ(r.ending, Ending::kClean) << ending_name(r.ending) << ": " << r.evidence << "\n  " << shell_line(run)
                                      << "\n" << Tail(r.output);
}

std::string CaseName(const testing::TestParamInfo<ConcurrencyFault>& info) {
  return std::string(impl::fault_name(info.param.fault)).substr(1);  // kFoo -> Foo
}

INSTANTIATE_TEST_SUITE_P(Faults, SchedCatch, testing::ValuesIn(concurrency_faults()), CaseName);

// The deadlock is reported with each thread's position and held locks.
TEST(SchedCatchDeadlock, ReportNamesPositionsAndHeldLocks) {
  const auto& all = concurrency_faults();
  const auto it = std::find_if(all.begin(), all.end(),
                               [](const ConcurrencyFault& c) { return c.fault == impl::Fault::kRetryKeepsVmaLock; });
  ASSERT_NE(it, all.end());
  const ChildResult r = run_child(fault_run(*it, it->find));
  ASSERT_EQ(r.ending, Ending::kDeadlock) << Tail(r.output);
  EXPECT_NE(r.output.find("blocked at vma write lock"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("blocked at mmap read lock"), std::string::npos) << r.output;
  // The writer holds the mmap lock and waits for the VMA; the retrying
  // fault holds the VMA and waits for the mmap lock.
  EXPECT_NE(r.output.find(", acquiring vma@"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(", acquiring mmap@"), std::string::npos) << r.output;
  // With lockdep's order check on, the inversion is reported before any
  // deadlock: lockdep needs no unlucky interleaving.
  ChildRun on = fault_run(*it, it->find);
  std::erase_if(on.env, [](const auto& kv) { return kv.first == "MMV_LOCKDEP"; });
  const ChildResult l = run_child(on);
  EXPECT_EQ(l.ending, Ending::kLockdep) << Tail(l.output);
  EXPECT_NE(l.evidence.find("mmap taken while holding vma"), std::string::npos) << l.evidence;
}

#endif  // MMV_FAULTS

TEST(SchedCatch, TheUnfaultedWorkloadsPassUnderTheScheduler) {
  for (const char* test :
       {"refcount", "vmalock", "mmaplock", "zap", "remap", "teardown", "teardown-async", "teardown-mixed", "lifetime",
        "writeback", "tlb"}) {
    ChildRun run;
    run.argv = {MMV_STRESS_RUNNER, std::string("--test=") + test, "--threads=3", "--seed=3", "--ops=40",
                "--sched=pct", "--depth=3", "--schedules=20"};
    const ChildResult r = run_child(run);
    EXPECT_EQ(r.ending, Ending::kClean) << test << ":\n" << Tail(r.output);
    std::printf("sched: %s, no fault: %s\n", test, sched_line(r.output).c_str());
    EXPECT_NE(r.output.find("20 schedules"), std::string::npos) << test << ":\n" << Tail(r.output);
  }
}

// The same under weak memory: no load of a wrapped atomic that the C++
// memory model allows breaks any workload, and the runs did read older
// stores (a weak run that never chose one would prove nothing).
TEST(SchedCatch, TheUnfaultedWorkloadsPassWithWeakMemory) {
  for (const char* test : {"refcount", "vmalock", "zap", "remap", "teardown-mixed", "lifetime", "writeback", "tlb"}) {
    ChildRun run;
    run.argv = {MMV_STRESS_RUNNER, std::string("--test=") + test, "--threads=3", "--seed=3", "--ops=30",
                "--sched=random", "--schedules=40", "--memory=weak"};
    const ChildResult r = run_child(run);
    EXPECT_EQ(r.ending, Ending::kClean) << test << ":\n" << Tail(r.output);
    const std::size_t at = r.output.find("weak memory: ");
    ASSERT_NE(at, std::string::npos) << test << ":\n" << Tail(r.output);
    const std::string line = r.output.substr(at, r.output.find('\n', at) - at);
    std::printf("sched: %s, no fault, %s\n", test, line.c_str());
    EXPECT_EQ(line.find(", 0 did"), std::string::npos) << test << ": " << line;
  }
}

#if MMV_FAULTS
// DFS under a preemption bound finds a fault systematically, and the
// failing schedule is shrunk before it is printed.
TEST(SchedCatch, DfsFindsMmgetNotZeroRacyAndShrinksItsSchedule) {
  ChildRun run;
  run.argv = {MMV_STRESS_RUNNER, "--test=refcount", "--seed=1", "--threads=2", "--ops=10",
              "--sched=dfs", "--bound=2", "--schedules=5000"};
  run.env = {{"MMV_FAULT", "kMmgetNotZeroRacy"}, {"MALLOC_PERTURB_", "165"}};
  const ChildResult r = run_child(run);
  ASSERT_NE(r.ending, Ending::kClean) << r.output;
  EXPECT_NE(r.output.find("dfs (bound 2) found a failure at schedule"), std::string::npos) << Tail(r.output);
  EXPECT_NE(r.output.find("shrunk: "), std::string::npos) << Tail(r.output);
  EXPECT_FALSE(printed_schedule(r.output).empty()) << Tail(r.output);
  std::printf("sched: kMmgetNotZeroRacy, refcount: %s\n", sched_line(r.output).c_str());
}
#endif

}  // namespace
}  // namespace mmv::stress
