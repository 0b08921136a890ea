// KernelActivity: what the kernel did on its own, machine-wide, that can
// change what the oracle observes without any op asking for it.
//
// The oracle compares pagemap present bits, and those are not ours alone:
// compaction and NUMA balancing migrate page-cache and anonymous folios
// (replacing their PTEs with migration entries for a moment, and locking
// them, so that fault-around skips them), reclaim and drop_caches evict
// clean page-cache folios (a later fault reads them back, maybe as a large
// folio), and khugepaged collapses ranges. Any of these may make one run
// of a sequence disagree with the model where a quiet run agrees -- seen in
// CI, and at will here under `echo 1 > /proc/sys/vm/compact_memory` or
// `drop_caches` in a loop. /proc/vmstat counts each of them, so a run can
// tell whether the kernel was busy with them while it ran.
//
// run_confirmed() decides what a disagreement means: a run that disagreed
// while the kernel was quiet is reported at once; one that disagreed while
// it was busy is run again, and the sequence passes only if a later run
// agrees throughout. A disagreement that the sequence itself causes
// therefore always fails, whatever the machine is doing.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmv::oracle {

struct KernelActivity {
  // (name, count) of the /proc/vmstat counters that move when the kernel
  // migrates, reclaims, drops or collapses pages, in file order.
  std::vector<std::pair<std::string, std::uint64_t>> counters;
  friend bool operator==(const KernelActivity&, const KernelActivity&) = default;
};

// The counters of interest in a /proc/vmstat text ("name value" lines).
KernelActivity parse_vmstat(std::string_view text);
// This machine's, now; nullopt if /proc/vmstat cannot be read.
std::optional<KernelActivity> read_kernel_activity();
// What moved between two readings ("pgmigrate_success +12, drop_pagecache
// +1"), or "" if nothing did.
std::string activity_between(const KernelActivity& before, const KernelActivity& after);

// The most runs of one sequence run_confirmed makes.
inline constexpr int kMaxOracleRuns = 5;

// Where run_confirmed reads the counters, and how it waits between reads.
struct ActivitySource {
  std::function<std::optional<KernelActivity>()> read;  // nullopt: unreadable
  std::function<void()> pause;
};
// /proc/vmstat, with 20 ms pauses.
ActivitySource this_kernel();

struct ConfirmedRun {
  std::optional<std::string> report;  // nullopt: a run agreed throughout
  int runs = 0;                       // how many runs it took
  std::vector<std::string> busy;      // per disagreeing busy run, what the kernel did
};

// Runs `run` (nullopt: agreed; else the report) until it agrees, or it
// disagrees while the kernel was quiet (or the counters cannot be read), or
// kMaxOracleRuns runs have all disagreed. The report returned is the last
// run's, followed by what the kernel did during the earlier runs.
//
// A counter moves when its event ends, and an event that touched our pages
// may end after the run did (drop_caches counts once it has gone through
// every file system): so after a disagreeing run the counters are read
// until three reads in a row, a pause apart, agree (at most 25 reads), and
// the run counts as busy if they moved at all since before it. A move
// after the run ended only costs one more run.
ConfirmedRun run_confirmed(const std::function<std::optional<std::string>()>& run, const ActivitySource& kernel);

}  // namespace mmv::oracle
