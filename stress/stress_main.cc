// stress_runner: the stress workloads (stress/workload.h) for long jobs.
//   stress_runner --test=zap|remap|vmalock|mmaplock|refcount|teardown|teardown-async|teardown-mixed|lifetime|writeback|tlb
//                 [--threads N] [--seconds S] [--seed X] [--ops K]
//                 [--sched=random|pct|dfs --depth D --bound B --schedules N
//                  --shrink TRIES]
// Prints a summary (ops, ops/s, verdict); exits 1 on a failed verdict, and
// on a run that completed no operation (verdict=NO-WORK: it tested
// nothing, so it must not pass). Options are --name=value or --name value;
// a value out of its range (usage(), --help) is refused with exit status 2
// (testing/cli.h), never read as 0.
// MMV_FAULT=<fault_name> switches a test-only fault on (impl/fault_switch.h).
//
// --sched runs the workload N times under the controlled scheduler
// (sched/sched.h), one schedule each (random, pct: seeds 1..N; dfs: every
// schedule with at most --bound preemptions), ops bounded by --ops, until
// one fails; it prints schedules/s and, for a failure, shrinks its schedule
// (--shrink runs at most) and prints the line that replays it exactly:
// MMV_SCHEDULE=<schedule> with the same arguments.
// MMV_SCHEDULE=<schedule> alone runs that one schedule.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <string>
#include <string_view>
#include <optional>
#include <csignal>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<sanitizer/common_interface_defs.h>) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
                                                           defined(__has_feature))
#include <sanitizer/common_interface_defs.h>
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MMV_HAVE_SANITIZER_CALLBACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MMV_HAVE_SANITIZER_CALLBACK 1
#endif
#endif
#endif
#endif

#include "impl/fault_switch.h"
#include "stress/child_run.h"
#include "stress/workload.h"
#include "testing/cli.h"

using namespace mmv::stress;

namespace {

// The replay line of the scheduled run in progress, for a run that ends in
// a crash or a sanitizer report: printed by the signal handler or the
// sanitizers' death callback (async-signal-safe: one write of a buffer
// filled before the run).
char g_replay[8192];
std::size_t g_replay_len = 0;

extern "C" void print_replay_and_die(int sig) {
  if (g_replay_len > 0) (void)!write(2, g_replay, g_replay_len);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
extern "C" void print_replay() {
  if (g_replay_len > 0) (void)!write(2, g_replay, g_replay_len);
}

void set_replay(const std::string& line) {
  const std::string text = "\nthe scheduled run in progress replays with:\nreplay: " + line + "\n";
  g_replay_len = std::min(text.size(), sizeof g_replay);
  std::memcpy(g_replay, text.data(), g_replay_len);
}

constexpr std::string_view kProgram = "stress_runner";
const std::vector<std::string_view> kTests = {"zap",      "remap",          "vmalock",        "mmaplock",
                                              "refcount", "teardown",       "teardown-async", "teardown-mixed",
                                              "lifetime", "writeback", "tlb"};
const std::vector<std::string_view> kOptions = {"--test",  "--threads", "--seconds", "--seed",      "--ops",
                                                "--sched", "--depth",   "--bound",   "--schedules", "--shrink",
                                                "--memory",  "--help"};
// The options' limits (docs/command-lines.md). Threads: what the
// controlled scheduler can run, and plenty for OS threads on any machine
// this runs on (TSan's allocator dies long before 100000).
constexpr std::uint64_t kMaxOps = std::numeric_limits<int>::max();  // per thread
constexpr std::uint64_t kMaxBound = 100;                             // dfs preemptions
constexpr std::uint64_t kMaxShrink = 1000000;                        // runs per shrinking step

std::string usage() {
  const std::string n = std::to_string(mmv::sched::kMaxThreads);
  return "usage: stress_runner --test=NAME [--threads N] [--seconds S] [--seed X] [--ops K]\n"
         "         [--sched=random|pct|dfs [--depth D] [--bound B] [--schedules N] [--shrink TRIES] [--memory M]]\n"
         "  --test       " + mmv::cli::join(kTests) + " (default zap)\n"
         "  --threads    worker threads, 1 to " + n + " (default 4)\n"
         "  --seconds    time bound under OS threads, > 0 and <= " + std::to_string(static_cast<long>(mmv::cli::kMaxSeconds)) + " (default 10)\n"
         "  --seed       unsigned 64-bit, decimal or 0x hex (default 1)\n"
         "  --ops        operations per thread, 1 to " + std::to_string(kMaxOps) + " (default: no bound; 100 under --sched)\n"
         "  --sched      run under the controlled scheduler: random, pct or dfs\n"
         "  --depth      pct's depth, 1 to " + std::to_string(mmv::sched::kMaxDepth) + " (default 2)\n"
         "  --bound      dfs's preemption bound, 0 to " + std::to_string(kMaxBound) + " (default 2)\n"
         "  --schedules  schedules to run, >= 1 (default 100)\n"
         "  --shrink     runs per shrinking step, 0 (none) to " + std::to_string(kMaxShrink) + " (default 200)\n"
         "  --memory     sc or weak: under the scheduler, loads of impl/'s wrapped atomics may read older\n"
         "               stores as the C++ memory model allows (weak; default sc)\n"
         "Each option is --name=value or --name value. Environment: MMV_FAULT=<fault>, MMV_SCHEDULE=<schedule>,\n"
         "MMV_LOCKDEP=on|off. Exit status: 0 PASS, 1 FAIL or NO-WORK (no operation completed), 2 usage error.\n"
         "Manual: docs/stress.md (workloads), docs/scheduler.md (--sched), docs/command-lines.md (every option).\n";
}

// One run of a workload (zap: one round); nullopt for a name not in kTests.
std::optional<StressReport> run_one(const std::string& test, const StressConfig& cfg) {
  if (test == "zap") return run_zap(cfg);
  if (test == "remap") return run_remap(cfg);
  if (test == "vmalock") return run_vma_lock(cfg, true);
  if (test == "mmaplock") return run_vma_lock(cfg, false);
  if (test == "refcount") return run_refcount(cfg);
  if (test == "teardown") return run_teardown(cfg, Teardown::kSync);
  if (test == "teardown-async") return run_teardown(cfg, Teardown::kAsync);
  if (test == "teardown-mixed") return run_teardown(cfg, Teardown::kMixed);
  if (test == "lifetime") return run_lifetime(cfg);
  if (test == "writeback") return run_writeback(cfg);
  if (test == "tlb") return run_tlb(cfg);
  return std::nullopt;
}

// --sched / MMV_SCHEDULE: runs under the controlled scheduler.
int run_scheduled(const std::string& test, StressConfig cfg, const std::string& strategy, int depth, int bound,
                  int shrink_tries, unsigned long long schedules, const char* argv0,
                  const std::vector<mmv::cli::Option>& options) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  // A crash or a sanitizer's report ends the process mid-run: print the
  // replay line of the run in progress then.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, print_replay_and_die);
#if MMV_HAVE_SANITIZER_CALLBACK
  __sanitizer_set_death_callback(print_replay);
#endif
  // The arguments that replay a run, with MMV_SCHEDULE in front (as given,
  // for the line printed; one word each, for a child that replays it).
  std::string args;
  std::vector<std::string> arg_words;
  for (const mmv::cli::Option& o : options)
    if (o.name != "--sched" && o.name != "--depth" && o.name != "--schedules" && o.name != "--bound" &&
        o.name != "--shrink" && o.name != "--ops") {
      args += " " + o.raw;
      arg_words.push_back(o.name.empty() ? o.value : o.name + "=" + o.value);
    }
  // The environment a run depends on goes on the replay line too.
  std::string env;
  for (const char* name : {"MMV_FAULT", "MMV_LOCKDEP", "MALLOC_PERTURB_"})
    if (const char* v = std::getenv(name)) env += std::string(name) + "=" + v + " ";
  // --ops as it is now: shrinking may lower it.
  auto replay_line = [&](const std::string& schedule) {
    return env + "MMV_SCHEDULE='" + schedule + "' " + argv0 + args + " --ops " + std::to_string(cfg.ops_per_thread);
  };
  // Whether the replay line of `schedule` (at the current --ops) fails in a
  // fresh process, as the one who reads it will run it. Shrinking runs in
  // this process after a failure, and a failing run can leave it corrupted
  // (kFolioPutRacy's double free lives on in the allocator's free lists), so
  // a smaller run may fail here only because of what ran before it.
  // So every step of shrinking runs in a fresh process of its own, with
  // `extra` arguments (and MMV_SCHEDULE when a schedule is given).
  auto fresh = [&](const std::vector<std::string>& extra, const std::string& schedule) {
    mmv::stress::ChildRun run;
    run.argv = {argv0};
    run.argv.insert(run.argv.end(), arg_words.begin(), arg_words.end());
    run.argv.push_back("--ops=" + std::to_string(cfg.ops_per_thread));
    run.argv.insert(run.argv.end(), extra.begin(), extra.end());
    if (!schedule.empty()) run.env = {{"MMV_SCHEDULE", schedule}};
    run.timeout = std::chrono::seconds(600);
    return mmv::stress::run_child(run);
  };
  auto failed = [](const mmv::stress::ChildResult& r) {
    return r.ending != mmv::stress::Ending::kClean && r.ending != mmv::stress::Ending::kOther;
  };
  // The schedule of the last "replay: ... MMV_SCHEDULE='S' ..." line a
  // child printed.
  auto replayed_schedule = [](const std::string& output) -> std::optional<std::string> {
    const std::string key = "MMV_SCHEDULE='";
    const auto line = output.rfind("replay: ");
    if (line == std::string::npos) return std::nullopt;
    const auto at = output.find(key, line);
    const auto end = at == std::string::npos ? at : output.find('\'', at + key.size());
    if (end == std::string::npos) return std::nullopt;
    return output.substr(at + key.size(), end - at - key.size());
  };
  // The replay alone (no shrinking, so no check of its own) fails.
  auto fails_fresh = [&](const std::string& schedule) { return failed(fresh({"--shrink=0"}, schedule)); };
  // A whole test under one schedule: for every strategy, for DFS and for
  // shrinking. The report of the last failing run is kept for printing.
  std::optional<StressReport> last_failure;
  std::uint64_t ops_done = 0;  // by every run: none at all is no test (NO-WORK)
  std::uint64_t weak_choices = 0, stale_reads = 0;  // --memory=weak: over every run
  const mmv::sched::Runner runner = [&](const mmv::sched::Schedule& s) {
    StressConfig one = cfg;
    one.schedule = s;
    one.on_sched_abort = [&](const std::string& list) {
      std::printf("sched: %s found a failure (the run could not finish) after %.2f s\nreplay: %s\n",
                  s.to_string().c_str(), std::chrono::duration<double>(Clock::now() - t0).count(),
                  replay_line(list).c_str());
      std::fflush(stdout);
    };
    set_replay(replay_line(s.to_string()));
    std::optional<StressReport> r = run_one(test, one);  // the test name was checked by the caller
    ops_done += r->ops;
    weak_choices += r->sched_run->weak_choices;
    stale_reads += r->sched_run->stale_reads;
    mmv::sched::Trial t;
    t.run = *r->sched_run;
    t.failed = !r->ok;
    if (t.failed) last_failure = std::move(r);
    return t;
  };
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  unsigned long long explored = 0;  // schedules run by the last search
  bool exhausted = false;           // dfs: the last search ran every schedule within the bound
  // Schedules each smaller operation count gets while shrinking.
  constexpr unsigned long long kShrinkOpsBudget = 200;
  // A failing run: its schedule shrunk to fewer preemptions, then the
  // replay line of that one.
  // The search: up to `budget` schedules of the strategy on the workload as
  // cfg has it now. Returns what found the first failure and at which
  // schedule (last_failure is its report), or nothing.
  struct Found {
    std::string by;
    unsigned long long at;
  };
  auto search = [&](unsigned long long budget) -> std::optional<Found> {
    if (strategy == "dfs") {
      const mmv::sched::ExploreResult e = mmv::sched::explore(runner, bound, budget);
      explored = e.schedules;
      exhausted = e.exhausted;
      if (e.failure && last_failure) return Found{"dfs (bound " + std::to_string(bound) + ")", e.schedules};
      return std::nullopt;
    }
    std::uint64_t k = 1000;
    if (strategy == "pct") {
      // PCT places its change points among the run's steps: measure them
      // once, without preemptions.
      mmv::sched::Schedule probe;
      probe.strategy = mmv::sched::Strategy::kList;
      const mmv::sched::Trial t = runner(probe);
      if (t.failed) return Found{"a run without preemptions", 1};
      if (t.run.steps > 0) k = t.run.steps;
    }
    for (unsigned long long i = 0; i < budget; ++i) {
      mmv::sched::Schedule s;
      s.strategy = strategy == "pct" ? mmv::sched::Strategy::kPct : mmv::sched::Strategy::kRandom;
      s.seed = i + 1;
      s.depth = depth;
      s.k = k;
      explored = i + 1;
      if (runner(s).failed) return Found{s.to_string(), i + 1};
    }
    return std::nullopt;
  };
  // A failing run: printed, then shrunk -- first to fewer operations per
  // thread (the same search on half as many, while it still finds a
  // failure), then to fewer preemptions -- and the replay line of the
  // smallest printed.
  auto report_failure = [&](const Found& found, bool can_search) {
    const double secs = seconds();
    std::printf("sched: %s found a failure at schedule %llu after %.2f s (%.0f schedules/s)\n", found.by.c_str(),
                found.at, secs, found.at / secs);
    std::printf("test=%s threads=%d seed=%llu verdict=FAIL\n%s\n%s", test.c_str(), cfg.threads,
                static_cast<unsigned long long>(cfg.seed), failure_banner(cfg).c_str(),
                last_failure->explanation.c_str());
    std::string schedule = last_failure->schedule;
    const std::string unshrunk = schedule;
    if (shrink_tries > 0) {
      // Printed first: a candidate that crashes ends the process (with its
      // own replay line, from the signal handler).
      std::printf("replay (before shrinking): %s\n", replay_line(schedule).c_str());
      std::fflush(stdout);
      const int ops = cfg.ops_per_thread;
      if (!can_search) {
        // A replay, the first run of a fresh process: its schedule shrinks
        // to fewer preemptions here.
        const StressReport r = *last_failure;  // shrinking runs more tests
        schedule = r.schedule;
        const mmv::sched::Schedule small = mmv::sched::shrink(runner, r.sched_run->replay, shrink_tries);
        const mmv::sched::Trial check = runner(small);
        std::printf("shrunk: %d ops per thread -> %d, %d preemptions -> %d\n", ops, ops, r.sched_run->preemptions,
                    check.run.preemptions);
        if (check.failed) schedule = small.to_string();
      } else {
        // A search, which has just failed in this process and may have left
        // it corrupted (kFolioPutRacy's double free lives on in the
        // allocator's free lists): a smaller run could fail, or crash, here
        // only because of what ran before it. So each step of shrinking
        // runs in a fresh process, and what it finds counts only if it
        // fails again in another. First fewer operations per thread (the
        // same search on half as many, while it still finds a failure)...
        while (cfg.ops_per_thread > 1) {
          const int was = cfg.ops_per_thread;
          cfg.ops_per_thread = was / 2;
          const unsigned long long budget = std::min<unsigned long long>(schedules, kShrinkOpsBudget);
          const mmv::stress::ChildResult r =
              fresh({"--sched=" + strategy, "--depth=" + std::to_string(depth), "--bound=" + std::to_string(bound),
                     "--schedules=" + std::to_string(budget), "--shrink=0"},
                    "");
          const std::optional<std::string> s = failed(r) ? replayed_schedule(r.output) : std::nullopt;
          if (!s || !fails_fresh(*s)) {
            cfg.ops_per_thread = was;
            break;
          }
          schedule = *s;
        }
        // ... then fewer preemptions: the replay shrinks its own schedule.
        const mmv::stress::ChildResult small = fresh({"--shrink=" + std::to_string(shrink_tries)}, schedule);
        const std::optional<std::string> shrunk = failed(small) ? replayed_schedule(small.output) : std::nullopt;
        std::string preemptions = "0 preemptions -> 0";  // what the replay's own "shrunk:" line says
        if (const auto at = small.output.find(" ops per thread -> "); at != std::string::npos) {
          const auto comma = small.output.find(", ", at);
          const auto eol = small.output.find('\n', at);
          if (comma != std::string::npos && comma < eol) preemptions = small.output.substr(comma + 2, eol - comma - 2);
        }
        if (shrunk && fails_fresh(*shrunk)) schedule = *shrunk;
        std::printf("shrunk: %d ops per thread -> %d, %s\n", ops, cfg.ops_per_thread, preemptions.c_str());
        if (!fails_fresh(schedule)) {
          std::printf("the shrunk run does not fail in a fresh process: the run before shrinking stands\n");
          cfg.ops_per_thread = ops;
          schedule = unshrunk;
        }
      }
    }
    std::printf("replay: %s\n", replay_line(schedule).c_str());
    std::fflush(stdout);
    return 1;
  };
  auto report_pass = [&](const std::string& what, unsigned long long runs) {
    const double secs = seconds();
    std::printf("sched: %llu schedules (%s), %.2f s, %.0f schedules/s\n", runs, what.c_str(), secs, runs / secs);
    if (cfg.weak_memory)
      std::printf("weak memory: %llu loads could read an older store, %llu did\n",
                  static_cast<unsigned long long>(weak_choices), static_cast<unsigned long long>(stale_reads));
    std::printf("test=%s threads=%d seed=%llu verdict=%s\n", test.c_str(), cfg.threads,
                static_cast<unsigned long long>(cfg.seed), ops_done ? "PASS" : "NO-WORK");
    if (ops_done) return 0;
    std::printf("stress_runner: no schedule completed an operation: the run tested nothing\n");
    return 1;
  };

  if (cfg.schedule) {  // MMV_SCHEDULE: that one schedule
    if (runner(*cfg.schedule).failed) return report_failure({cfg.schedule->to_string(), 1}, false);
    return report_pass("replay", 1);
  }
  if (const std::optional<Found> f = search(schedules)) return report_failure(*f, true);
  if (strategy == "dfs")
    return report_pass("dfs, preemption bound " + std::to_string(bound) + (exhausted ? ", exhausted" : ""), explored);
  return report_pass(strategy + ", depth " + std::to_string(depth), explored);
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = mmv::cli;
  // A fault name that is no fault fails now, before any output (exit 2).
  [[maybe_unused]] const std::optional<mmv::impl::Fault> fault = mmv::impl::fault_from_env_or_exit();
  StressConfig cfg;
  cfg.seconds = 10;
  std::string test = "zap";
  std::string sched_strategy;
  std::optional<int> ops;  // --ops; none: unbounded under OS threads, 100 under the scheduler
  int depth = 2;
  int bound = 2;           // dfs: preemption bound
  int shrink_tries = 200;  // runs spent shrinking a failing schedule (0: none)
  unsigned long long schedules = 100;
  auto fail = [](const std::string& problem) {
    std::cerr << kProgram << ": " << problem << "\n" << usage();
    return cli::kUsageError;
  };
  const cli::Parsed<std::vector<cli::Option>> split = cli::split_options(argc, argv, {"--help"});
  if (!split.value) return fail(split.error);
  for (const cli::Option& o : *split.value) {
    auto get = [](auto parsed) { return cli::or_exit(std::move(parsed), kProgram); };
    const std::string& n = o.name;
    const std::string& v = o.value;
    if (n.empty()) return fail("unexpected argument '" + v + "'");
    if (n == "--help") {
      std::cout << usage();
      return 0;
    }
    if (n == "--test") test = get(cli::parse_choice(n, v, kTests));
    else if (n == "--threads") cfg.threads = static_cast<int>(get(cli::parse_uint(n, v, 1, mmv::sched::kMaxThreads)));
    else if (n == "--seconds") cfg.seconds = get(cli::parse_seconds(n, v));
    else if (n == "--seed") cfg.seed = get(cli::parse_seed(n, v));
    else if (n == "--ops") ops = static_cast<int>(get(cli::parse_uint(n, v, 1, kMaxOps)));
    else if (n == "--sched") sched_strategy = get(cli::parse_choice(n, v, {"random", "pct", "dfs"}));
    else if (n == "--depth") depth = static_cast<int>(get(cli::parse_uint(n, v, 1, mmv::sched::kMaxDepth)));
    else if (n == "--schedules") schedules = get(cli::parse_uint(n, v, 1, cli::kU64Max));
    else if (n == "--bound") bound = static_cast<int>(get(cli::parse_uint(n, v, 0, kMaxBound)));
    else if (n == "--shrink") shrink_tries = static_cast<int>(get(cli::parse_uint(n, v, 0, kMaxShrink)));
    else if (n == "--memory") cfg.weak_memory = get(cli::parse_choice(n, v, {"sc", "weak"})) == "weak";
    else return fail(cli::unknown_option(n, kOptions));
  }
  if (const char* env = cli::env("MMV_SCHEDULE")) {
    std::string error;
    auto s = mmv::sched::Schedule::parse(env, &error);
    if (!s) cli::usage_exit(kProgram, "MMV_SCHEDULE: " + error);
    cfg.schedule = *s;
  }
  const bool scheduled = cfg.schedule || !sched_strategy.empty();
  if (cfg.weak_memory && !scheduled)
    cli::usage_exit(kProgram, "--memory=weak needs the scheduler (--sched or MMV_SCHEDULE): OS threads run on this "
                              "machine's memory model");
  cfg.ops_per_thread = ops ? *ops : scheduled ? 100 : 1000000000;
  if (scheduled)
    return run_scheduled(test, cfg, sched_strategy, depth, bound, shrink_tries, schedules, argv[0], *split.value);
  StressReport r;
  const bool in_rounds = test == "zap" || test == "remap" || test == "lifetime";
  if (in_rounds) {
    // The linearizability check bounds one history to a few hundred
    // operations per VMA, and lifetime makes its address spaces (one per
    // operation) before it starts: a long zap, remap or lifetime job is a
    // series of rounds, each a fresh run with the next seed, until
    // --seconds or --ops is used up.
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration<double>(cfg.seconds);
    const auto t0 = Clock::now();
    long long ops_left = cfg.ops_per_thread;
    int rounds = 0;
    for (std::uint64_t seed = cfg.seed; ops_left > 0 && (rounds == 0 || Clock::now() < deadline);
         ++seed, ++rounds) {
      StressConfig round = cfg;
      round.seed = seed;
      round.ops_per_thread = static_cast<int>(std::min<long long>(ops_left, 300));
      round.seconds = std::max(0.001, std::chrono::duration<double>(deadline - Clock::now()).count());
      StressReport one = *run_one(test, round);
      ops_left -= round.ops_per_thread;
      r.ops += one.ops;
      r.seconds += one.seconds;  // the concurrent phases
      r.check_seconds += one.check_seconds;
      r.notes += one.notes;
      if (!one.ok) {
        r.ok = false;
        // The failing round on its own: --seed S --ops <its ops per thread>.
        r.explanation = failure_banner(round) + " (one round: --seed " + std::to_string(seed) + " --ops " +
                        std::to_string(round.ops_per_thread) + ")\n" + one.explanation;
        break;
      }
    }
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    // The share of checking: of the concurrent phases and checking, and of
    // the whole job (which also sets up each round's address space).
    std::printf("%s: %d rounds; concurrent phase %.3f s (%.0f ops/s); checking %.3f s (%.0f checked ops/s, "
                "%.0f%% of the time, %.0f%% of the job); total %.3f s (%.0f ops/s)\n",
                test.c_str(), rounds, r.seconds, r.ops_per_second(), r.check_seconds, r.checked_per_second(), r.check_share(),
                total > 0 ? 100 * r.check_seconds / total : 0, total, r.ops / total);
    r.seconds = total;
  }
  else {
    r = *run_one(test, cfg);
  }
  // A run that completed no operation (a --seconds too short to start one)
  // checked nothing: NO-WORK, a failure, never PASS.
  const bool no_work = r.ok && r.ops == 0;
  std::printf("test=%s threads=%d seed=%llu ops=%llu seconds=%.3f ops/s=%.0f verdict=%s\n", test.c_str(),
              cfg.threads, static_cast<unsigned long long>(cfg.seed), static_cast<unsigned long long>(r.ops),
              r.seconds, r.ops_per_second(), !r.ok ? "FAIL" : no_work ? "NO-WORK" : "PASS");
  if (!r.notes.empty()) std::printf("%s", r.notes.c_str());
  if (no_work) {
    std::printf("stress_runner: no operation completed in --seconds %g: the run tested nothing\n", cfg.seconds);
    return 1;
  }
  if (!r.ok) {
    if (!in_rounds) std::printf("%s\n", failure_banner(cfg).c_str());  // theirs name the round
    std::printf("%s", r.explanation.c_str());
    return 1;
  }
  return 0;
}
