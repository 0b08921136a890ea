#include "stress/concurrency_faults.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "impl/sanitizers.h"

#ifndef MMV_STRESS_RUNNER
#error "MMV_STRESS_RUNNER (the path of stress_runner) is set by stress/CMakeLists.txt"
#endif

namespace mmv::stress {

#if MMV_FAULTS

namespace {

using impl::Fault;

// A use after free: the verdict, or whichever sanitizer or crash comes first.
const std::vector<Ending> kUseAfterFree = {Ending::kVerdict, Ending::kTsan, Ending::kAsan, Ending::kCrash};

std::vector<ConcurrencyFault> make_cases() {
  std::vector<ConcurrencyFault> c = {
      // A lost increment lets the mm be torn down and freed under a user.
      {Fault::kMmgetNotZeroRacy, "refcount", 4, 50, 1, {"--sched=pct", "--depth=2", "--schedules=200"}, kUseAfterFree},
      // A reader holds a VMA that shrank away from its address.
      {Fault::kNoRangeRecheck, "vmalock", 4, 60, 1000, {"--sched=pct", "--depth=3", "--schedules=2000"},
       {Ending::kVerdict}},
      // A reader's VMA changes under its read lock (a data race TSan sees).
      {Fault::kVmaChangedWithoutWriteLock, "vmalock", 2, 10, 1000, {"--sched=dfs", "--bound=2", "--schedules=5000"},
       {Ending::kVerdict, Ending::kTsan}},
      // A folio reference lost: a leak or a use after free.
      {Fault::kFolioPutRacy, "zap", 4, 40, 1000, {"--sched=pct", "--depth=2", "--schedules=500"}, kUseAfterFree},
      // A stale VmaRef makes a PTE writable in a VMA mprotect made read-only.
      {Fault::kVmaRefAfterUnlock, "writeback", 2, 8, 2, {"--sched=pct", "--depth=3", "--schedules=2000"},
       kUseAfterFree},
      // vma -> mmap against mprotect's mmap -> vma: with lockdep's order
      // check off, the scheduler reports the deadlock.
      {Fault::kRetryKeepsVmaLock, "writeback", 2, 8, 1000, {"--sched=pct", "--depth=2", "--schedules=500"},
       {Ending::kDeadlock}, {{"MMV_LOCKDEP", "off"}}},
      // A write between write-protect and clear-dirty is never written back.
      {Fault::kWritebackProtectFirst, "writeback", 2, 8, 1, {"--sched=pct", "--depth=3", "--schedules=2000"},
       {Ending::kVerdict, Ending::kTsan}},
      // A zap that finds the entries already cleared by a concurrent zap
      // returns with its CPU's TLB still mapping the old page.
      {Fault::kNestedZapSkipsFlush, "tlb", 2, 20, 1000, {"--sched=pct", "--depth=3", "--schedules=1000"},
       kUseAfterFree},
  };
#if MMV_ASAN
  // Pages put before the shootdown: another CPU reads the freed page through
  // its TLB. Without ASan the freed memory still holds the old bytes (the
  // allocator's cache keeps them), which a load may legitimately return.
  c.push_back({Fault::kFreeBeforeFlush, "tlb", 2, 20, 1001, {"--sched=pct", "--depth=3", "--schedules=500"},
               {Ending::kAsan}});
  // Two last users both read mm_users == 0 after their decrements, and both
  // tear down: found where the last references of every kind are dropped
  // together, once per short-lived mm (lifetime). The second teardown drops
  // the users' mm_count share twice, and the mm is freed under a holder.
  // Without ASan what that freed memory does next is up to the allocator
  // (a crash, a wrong count, or a loop on garbage): not a verdict that
  // replays.
  c.push_back({Fault::kMmputRereadsCount, "lifetime", 2, 4, 1, {"--sched=pct", "--depth=2", "--schedules=500"},
               {Ending::kAsan}});
  // A grace period frees what was retired while it ran: a reader that began
  // after it started and loaded the old snapshot finds it freed. Random
  // picks find it first: it takes three switches close together (the
  // grace period's end, a reader's start, a writer's retire).
  c.push_back({Fault::kRetireInGracePeriod, "remap", 3, 10, 1, {"--sched=random", "--schedules=500"},
               {Ending::kAsan}});
  // mm_lock_seq moved on without a release: with weak memory a VMA reader
  // sees the new number but not the detach before it, locks a VMA munmap
  // removed, and uses it after it is freed. Sequentially consistent runs
  // (OS threads on x86, the scheduler without --memory=weak) cannot show it.
  c.push_back({Fault::kSeqUnlockRelaxed, "vmalock", 3, 20, 1,
               {"--sched=pct", "--depth=3", "--schedules=1000", "--memory=weak"}, {Ending::kAsan}});
  // A snapshot freed under a reader of lock_vma_under_rcu.
  c.push_back({Fault::kSnapshotFreedWithoutRcu, "vmalock", 3, 40, 1000, {"--sched=pct", "--depth=2", "--schedules=500"},
               {Ending::kAsan}});
#endif
#if MMV_TSAN
  // Only TSan can see these (their only harm here is the race itself).
  c.push_back({Fault::kPublishBeforeInit, "vmalock", 4, 60, 1000, {"--sched=pct", "--depth=2", "--schedules=50"},
               {Ending::kTsan}});
  // Seen when two threads with cached frames exit unordered, which needs
  // the threads to interleave (PCT at depth 1 runs them one after another).
  c.push_back({Fault::kFreeListUnlocked, "zap", 4, 40, 1000, {"--sched=random", "--schedules=50"},
               {Ending::kTsan}});
#endif
  return c;
}

}  // namespace

const std::vector<ConcurrencyFault>& concurrency_faults() {
  static const std::vector<ConcurrencyFault> cases = make_cases();
  return cases;
}

ChildRun fault_run(const ConcurrencyFault& c, const std::vector<std::string>& args) {
  ChildRun run;
  run.argv = {MMV_STRESS_RUNNER, std::string("--test=") + c.workload, "--threads=" + std::to_string(c.threads),
              "--seed=" + std::to_string(c.seed), "--ops=" + std::to_string(c.ops)};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  // MALLOC_PERTURB_: freed memory is filled, so a use after free in a
  // build without ASan reads garbage instead of stale contents that work.
  run.env = {{"MMV_FAULT", impl::fault_name(c.fault)}, {"MALLOC_PERTURB_", "165"}};
  run.env.insert(run.env.end(), c.env.begin(), c.env.end());
#if MMV_TSAN
  // ThreadSanitizer sees a race or not depending on how its shadow memory
  // evicts, which varies with addresses, not only with the interleaving:
  // a fault the verdict can catch is left to the verdict, so that its
  // printed schedule replays exactly. TSan-only faults keep TSan's reports.
  // A report ends the run at once (halt_on_error), so it names the schedule
  // that found it, in or outside ctest.
  const char* base = std::getenv("TSAN_OPTIONS");
  const bool verdict_catches = c.caught(Ending::kTsan) && c.catches.size() > 1;
  run.env.push_back(
      {"TSAN_OPTIONS", std::string(base ? base : "") + " halt_on_error=1" + (verdict_catches ? " report_bugs=0" : "")});
#endif
  run.timeout = std::chrono::seconds(120);
  return run;
}

#endif  // MMV_FAULTS

std::string printed_schedule(const std::string& output) {
  const std::size_t at = output.rfind("MMV_SCHEDULE='");
  if (at == std::string::npos) return "";
  const std::size_t from = at + 14, to = output.find('\'', from);
  return to == std::string::npos ? "" : output.substr(from, to - from);
}

ChildRun printed_replay(const std::string& output) {
  ChildRun run;
  const std::size_t at = output.rfind("\nreplay: ");
  if (at == std::string::npos) return run;
  const std::size_t from = at + 9, to = output.find('\n', from);
  std::istringstream words(output.substr(from, to == std::string::npos ? std::string::npos : to - from));
  for (std::string w; words >> w;) {
    const std::size_t eq = w.find('=');
    std::string value = eq == std::string::npos ? w : w.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') value = value.substr(1, value.size() - 2);
    const bool env = run.argv.empty() && eq != std::string::npos && w.rfind("--", 0) != 0;
    if (env) run.env.push_back({w.substr(0, eq), value});
    else run.argv.push_back(w);
  }
  run.timeout = std::chrono::seconds(120);
  return run;
}

std::string sched_line(const std::string& output) {
  const std::size_t at = output.find("sched: ");
  return at == std::string::npos ? "" : output.substr(at + 7, output.find('\n', at) - at - 7);
}

std::string failing_schedule(const std::string& output) {
  const std::string line = sched_line(output);
  if (const std::size_t at = line.find("at schedule "); at != std::string::npos)
    return line.substr(at + 12, line.find(' ', at + 12) - at - 12);
  const std::string schedule =
      line.rfind("pct:", 0) == 0 || line.rfind("random:", 0) == 0 ? line : printed_schedule(output);
  const std::size_t seed = schedule.find("seed=");
  return seed == std::string::npos ? "" : schedule.substr(seed + 5, schedule.find_first_of(", ", seed) - seed - 5);
}

}  // namespace mmv::stress
