// stress_runner: the stress workloads (stress/workload.h) for long jobs.
//   stress_runner --test=zap|vmalock|mmaplock|refcount|teardown|teardown-async
//                 [--threads N] [--seconds S] [--seed X] [--ops K]
// Prints a summary (ops, ops/s, verdict); exits 1 on a failed verdict.
// MMV_FAULT=<fault_name> switches a test-only fault on (impl/fault_switch.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "stress/workload.h"

using namespace mmv::stress;

int main(int argc, char** argv) {
  StressConfig cfg;
  cfg.ops_per_thread = 1000000000;
  cfg.seconds = 10;
  std::string test = "zap";
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
    else {
      std::cerr << "usage: " << argv[0]
                << " --test=zap|vmalock|mmaplock|refcount|teardown|teardown-async"
                   " [--threads N] [--seconds S] [--seed X] [--ops K]\n";
      return 2;
    }
  }
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
  else if (test == "vmalock") r = run_vma_lock(cfg, true);
  else if (test == "mmaplock") r = run_vma_lock(cfg, false);
  else if (test == "refcount") r = run_refcount(cfg);
  else if (test == "teardown") r = run_teardown(cfg, false);
  else if (test == "teardown-async") r = run_teardown(cfg, true);
  else {
    std::cerr << "unknown --test " << test << "\n";
    return 2;
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
