// stress_runner: the stress workloads (stress/workload.h) for long jobs.
//   stress_runner --test=zap|vmalock|mmaplock|refcount|teardown|teardown-async|teardown-mixed|writeback|tlb
//                 [--threads N] [--seconds S] [--seed X] [--ops K]
//                 [--sched=random|pct|dfs --depth D --bound B --schedules N
//                  --shrink TRIES]
// Prints a summary (ops, ops/s, verdict); exits 1 on a failed verdict.
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

#include "stress/workload.h"

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

constexpr std::string_view kTests[] = {"zap",      "vmalock",        "mmaplock",       "refcount",
                                       "teardown", "teardown-async", "teardown-mixed", "writeback",
                                       "tlb"};
bool known_test(std::string_view test) { return std::find(std::begin(kTests), std::end(kTests), test) != std::end(kTests); }

// One run of a workload (zap: one round); nullopt for a name not in kTests.
std::optional<StressReport> run_one(const std::string& test, const StressConfig& cfg) {
  if (test == "zap") return run_zap(cfg);
  if (test == "vmalock") return run_vma_lock(cfg, true);
  if (test == "mmaplock") return run_vma_lock(cfg, false);
  if (test == "refcount") return run_refcount(cfg);
  if (test == "teardown") return run_teardown(cfg, Teardown::kSync);
  if (test == "teardown-async") return run_teardown(cfg, Teardown::kAsync);
  if (test == "teardown-mixed") return run_teardown(cfg, Teardown::kMixed);
  if (test == "writeback") return run_writeback(cfg);
  if (test == "tlb") return run_tlb(cfg);
  return std::nullopt;
}

// --sched / MMV_SCHEDULE: runs under the controlled scheduler.
int run_scheduled(const std::string& test, StressConfig cfg, const std::string& strategy, int depth, int bound,
                  int shrink_tries, unsigned long long schedules, int argc, char** argv) {
  if (cfg.ops_per_thread >= 1000000000) cfg.ops_per_thread = 100;  // no --ops: a small bounded run
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  // A crash or a sanitizer's report ends the process mid-run: print the
  // replay line of the run in progress then.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, print_replay_and_die);
#if MMV_HAVE_SANITIZER_CALLBACK
  __sanitizer_set_death_callback(print_replay);
#endif
  // The arguments that replay a run, with MMV_SCHEDULE in front.
  std::string args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--sched", 0) == 0 || a.rfind("--depth", 0) == 0 || a.rfind("--schedules", 0) == 0 ||
        a.rfind("--bound", 0) == 0 || a.rfind("--shrink", 0) == 0 || a.rfind("--ops", 0) == 0) {
      if (a.find('=') == std::string::npos) ++i;  // and its value
      continue;
    }
    args += " " + a;
  }
  // The environment a run depends on goes on the replay line too.
  std::string env;
  for (const char* name : {"MMV_FAULT", "MMV_LOCKDEP", "MALLOC_PERTURB_"})
    if (const char* v = std::getenv(name)) env += std::string(name) + "=" + v + " ";
  // --ops as it is now: shrinking may lower it.
  auto replay_line = [&](const std::string& schedule) {
    return env + "MMV_SCHEDULE='" + schedule + "' " + argv[0] + args + " --ops " + std::to_string(cfg.ops_per_thread);
  };
  // A whole test under one schedule: for every strategy, for DFS and for
  // shrinking. The report of the last failing run is kept for printing.
  std::optional<StressReport> last_failure;
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
    if (shrink_tries > 0) {
      // Printed first: a candidate that crashes ends the process (with its
      // own replay line, from the signal handler).
      std::printf("replay (before shrinking): %s\n", replay_line(schedule).c_str());
      std::fflush(stdout);
      const int ops = cfg.ops_per_thread;
      while (can_search && cfg.ops_per_thread > 1) {
        const int was = cfg.ops_per_thread;
        cfg.ops_per_thread = was / 2;
        if (!search(std::min<unsigned long long>(schedules, kShrinkOpsBudget))) {
          cfg.ops_per_thread = was;
          break;
        }
      }
      const StressReport r = *last_failure;  // shrinking runs more tests
      schedule = r.schedule;
      const mmv::sched::Schedule small = mmv::sched::shrink(runner, r.sched_run->replay, shrink_tries);
      const mmv::sched::Trial check = runner(small);
      std::printf("shrunk: %d ops per thread -> %d, %d preemptions -> %d\n", ops, cfg.ops_per_thread,
                  r.sched_run->preemptions, check.run.preemptions);
      if (check.failed) schedule = small.to_string();
      if (cfg.ops_per_thread != ops) std::printf("%s\n", last_failure->explanation.c_str());
    }
    std::printf("replay: %s\n", replay_line(schedule).c_str());
    std::fflush(stdout);
    return 1;
  };
  auto report_pass = [&](const std::string& what, unsigned long long runs) {
    const double secs = seconds();
    std::printf("sched: %llu schedules (%s), %.2f s, %.0f schedules/s\n", runs, what.c_str(), secs, runs / secs);
    std::printf("test=%s threads=%d seed=%llu verdict=PASS\n", test.c_str(), cfg.threads,
                static_cast<unsigned long long>(cfg.seed));
    return 0;
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
  StressConfig cfg;
  cfg.ops_per_thread = 1000000000;
  cfg.seconds = 10;
  std::string test = "zap";
  std::string sched_strategy;
  int depth = 2;
  int bound = 2;           // dfs: preemption bound
  int shrink_tries = 200;  // runs spent shrinking a failing schedule (0: none)
  unsigned long long schedules = 100;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v;
    if (auto eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    }
    if (a == "--test") test = v;
    else if (a == "--threads") cfg.threads = std::atoi(v.c_str());
    else if (a == "--seconds") cfg.seconds = std::atof(v.c_str());
    else if (a == "--seed") cfg.seed = std::strtoull(v.c_str(), nullptr, 0);
    else if (a == "--ops") cfg.ops_per_thread = std::atoi(v.c_str());
    else if (a == "--sched") sched_strategy = v;
    else if (a == "--depth") depth = std::atoi(v.c_str());
    else if (a == "--schedules") schedules = std::strtoull(v.c_str(), nullptr, 0);
    else if (a == "--bound") bound = std::atoi(v.c_str());
    else if (a == "--shrink") shrink_tries = std::atoi(v.c_str());
    else {
      std::cerr << "usage: " << argv[0]
                << " --test=zap|vmalock|mmaplock|refcount|teardown|teardown-async|teardown-mixed|writeback|tlb"
                   " [--threads N] [--seconds S] [--seed X] [--ops K]"
                   " [--sched=random|pct|dfs --depth D --bound B --schedules N --shrink TRIES]\n";
      return 2;
    }
  }
  if (!sched_strategy.empty() && sched_strategy != "random" && sched_strategy != "pct" && sched_strategy != "dfs") {
    std::cerr << "--sched must be random, pct or dfs, not '" << sched_strategy << "'\n";
    return 2;
  }
  if (bound < 0 || shrink_tries < 0) {
    std::cerr << "--bound and --shrink must not be negative\n";
    return 2;
  }
  if (depth < 1 || depth > 16 || schedules == 0) {
    std::cerr << "--depth must be 1 to 16 and --schedules at least 1\n";
    return 2;
  }
  if (cfg.threads < 1 || cfg.threads > mmv::sched::kMaxThreads) {
    std::cerr << "--threads must be 1 to " << mmv::sched::kMaxThreads << "\n";
    return 2;
  }
  if (const char* env = std::getenv("MMV_SCHEDULE")) {
    std::string error;
    auto s = mmv::sched::Schedule::parse(env, &error);
    if (!s) {
      std::cerr << error << "\n";
      return 2;
    }
    cfg.schedule = *s;
  }
  if (!known_test(test)) {
    std::cerr << "unknown --test " << test << "\n";
    return 2;
  }
  if (cfg.schedule || !sched_strategy.empty())
    return run_scheduled(test, cfg, sched_strategy, depth, bound, shrink_tries, schedules, argc, argv);
  StressReport r;
  if (test == "zap") {
    // The linearizability check bounds one history to a few hundred
    // operations per VMA: a long zap job is a series of rounds, each a
    // fresh run with the next seed, until --seconds or --ops is used up.
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
      StressReport one = run_zap(round);
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
    std::printf("zap: %d rounds; concurrent phase %.3f s (%.0f ops/s); checking %.3f s (%.0f checked ops/s, "
                "%.0f%% of the time, %.0f%% of the job); total %.3f s (%.0f ops/s)\n",
                rounds, r.seconds, r.ops_per_second(), r.check_seconds, r.checked_per_second(), r.check_share(),
                total > 0 ? 100 * r.check_seconds / total : 0, total, r.ops / total);
    r.seconds = total;
  }
  else {
    r = *run_one(test, cfg);
  }
  std::printf("test=%s threads=%d seed=%llu ops=%llu seconds=%.3f ops/s=%.0f verdict=%s\n", test.c_str(),
              cfg.threads, static_cast<unsigned long long>(cfg.seed), static_cast<unsigned long long>(r.ops),
              r.seconds, r.ops_per_second(), r.ok ? "PASS" : "FAIL");
  if (!r.notes.empty()) std::printf("%s", r.notes.c_str());
  if (!r.ok) {
    if (test != "zap") std::printf("%s\n", failure_banner(cfg).c_str());  // zap's names its round
    std::printf("%s", r.explanation.c_str());
    return 1;
  }
  return 0;
}
