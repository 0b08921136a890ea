// Seeded, bounded stress workloads on the implementation (SPEC.md sections
// 1, 2, 5, 6). Shared by the gtest suites (stress/stress_test.cc,
// stress/fault_catch_test.cc) and the long-running runner
// (stress/stress_main.cc).
//
// Every workload:
//  - runs `threads` workers started together (std::latch), each with its own
//    std::mt19937_64 seeded from (seed, thread index), bounded by
//    ops_per_thread AND seconds, whichever comes first;
//  - shares nothing mutable between workers except the implementation under
//    test: each worker records into its own vector, merged after join;
//  - decides its verdict on the calling thread after join, from properties
//    that hold under every interleaving (no flakes): no gtest, RapidCheck or
//    other uninstrumented library code runs on a worker (SPEC.md section 7).
//
// Under a schedule (StressConfig::schedule), the workers run one at a time
// under the controlled scheduler, switching only at impl/'s scheduling
// points, so a run is a function of (seed, schedule) and replays exactly
// from StressReport::schedule. A deadlock or a livelock ends the process:
// it prints the report, the schedule and "verdict=FAIL", and exits 1
// (blocked threads hold locks the checks would need).
//
// The MMV_FAULT environment variable (a fault_name(), e.g.
// MMV_FAULT=kNoRangeRecheck) switches a test-only fault on for the duration
// of every workload run, to demonstrate what TSan reports for faults only
// TSan can see.
//
// A zap history that is not linearizable also gets an HTML timeline
// (lincheck/timeline.h), written to $MMV_LIN_HTML_DIR (default: the temporary
// directory) as mmv-lin-zap-seed<S>-threads<T>-vma<P>.html; the failure's
// explanation names it ("timeline: <path>").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sched/sched.h"
#include "stress/linearizability.h"

namespace mmv::stress {

struct StressConfig {
  int threads = 4;
  std::uint64_t seed = 1;
  int ops_per_thread = 300;
  double seconds = 2.0;  // ignored under a schedule: only ops_per_thread bounds a scheduled run
  // Run the workers under the controlled scheduler (sched/sched.h) with
  // this schedule, instead of under the OS scheduler.
  std::optional<sched::Schedule> schedule;
  std::uint64_t max_steps = 2000000;  // scheduling points before a livelock report
  // Under a schedule: weak memory for impl/'s wrapped atomics
  // (sched::Options::weak_memory).
  bool weak_memory = false;
  // Under a schedule, a deadlock or livelock ends the process; this is
  // called first with the list schedule of the run (stress_runner prints
  // its replay line).
  std::function<void(const std::string& schedule)> on_sched_abort;
};

struct StressReport {
  bool ok = true;            // the verdict: false = a violation was found
  std::string explanation;   // what was violated (empty when ok)
  std::uint64_t ops = 0;     // operations the workers completed
  double seconds = 0;        // wall time of the concurrent phase
  double check_seconds = 0;  // wall time of checking the history afterwards (0: not measured)
  std::string notes;         // e.g. linearizability kUnknown parts
  std::string schedule;      // under a schedule: the list schedule that replays the run exactly
  std::optional<sched::RunResult> sched_run;  // under a schedule: what the scheduler saw
  double ops_per_second() const { return seconds > 0 ? ops / seconds : 0; }
  double checked_per_second() const { return check_seconds > 0 ? ops / check_seconds : 0; }
  // The share of the run spent checking, in percent.
  double check_share() const {
    return seconds + check_seconds > 0 ? 100 * check_seconds / (seconds + check_seconds) : 0;
  }
};

// "stress failure: seed=S threads=T", for every failure message.
std::string failure_banner(const StressConfig& cfg);

std::uint64_t now_ns();

// Threads doing reads/writes/zaps (mmap lock and VMA lock)/vm_insert_page on
// pre-mapped anonymous, shared-file and MIXEDMAP VMAs; the history is checked
// for linearizability per VMA; invariants, bugs, rss and written-back file
// data are checked after join.
StressReport run_zap(const StressConfig& cfg);

// The concurrent kernel oracle's workload on the impl: threads run
// remap_commands (reads, writes, zaps, whole-VMA mprotects, munmap + mmap)
// on kRemapVmas (anonymous, shared file, private file); each VMA's history
// is checked page by page with stress::check_remap, as the oracle checks
// the host kernel's (stress/remap_check.h), and the invariants and bugs
// after join.
StressReport run_remap(const StressConfig& cfg);

// Readers under lock_vma_under_rcu (vma_lock = true) or the mmap read lock
// (false), and one read in four under mmap_read_trylock, checking the VMA
// they hold, while thread 0 munmaps, mmaps and mprotects (splits, merges)
// the same area holding the mmap write lock.
StressReport run_vma_lock(const StressConfig& cfg, bool vma_lock);

// mmget_not_zero/mmput and mmgrab/mmdrop on every thread while the main
// thread drops what may be the last user.
StressReport run_refcount(const StressConfig& cfg);

// Threads holding user references taken before they started use the mm and
// then drop them; the last one tears down. kSync: each by mmput; kAsync:
// mmput_async; kMixed: each by either, then an mmget_not_zero through an
// mm_count reference of its own, racing the teardown. Under a schedule the
// Kernel's async worker is a scheduled thread too (the last one).
enum class Teardown { kSync, kAsync, kMixed };
StressReport run_teardown(const StressConfig& cfg, Teardown how);

// Short lives, many of them: ops_per_thread address spaces, each made
// before the threads start with one user and one mm_count reference per
// thread. For each in turn, every thread ends both of its references, in
// an order of its own: mmput or mmput_async, an mmget_not_zero through its
// mm_count reference (a read with what it gets, then mmput or
// mmput_async), and mmdrop. So the last reference of each kind is dropped,
// or taken, by different threads at about the same time, once per address
// space. Checked after join: no kernel bug, every mm torn down once with
// mm_users 0 and only the checker's mm_count reference left, no user
// reference to a torn-down mm.
StressReport run_lifetime(const StressConfig& cfg);

// Two address spaces sharing one file: threads write their own bytes of it
// (and of an anonymous area) through mm A while thread 0 writes the file
// back, mprotects pages of A's file mapping read-only or writable (a
// writer waiting for VMA locks; splits and merges), and makes, uses and tears down (mmput or mmput_async) a
// second mm B mapping the same file. Checked after join: every thread's
// last write to each of its file bytes is on disk after a final writeback;
// B never sees A's anonymous data; invariants and bugs of A.
StressReport run_writeback(const StressConfig& cfg);

// Each thread a CPU (impl/tlb.h) storing to and loading its own byte of two
// anonymous pages, and zapping them: a load sees its last store or 0 (a
// zap), nothing else -- not the contents of a page freed while a TLB still
// mapped it.
StressReport run_tlb(const StressConfig& cfg);

}  // namespace mmv::stress
