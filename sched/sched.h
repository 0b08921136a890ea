// A controlled scheduler for deterministic concurrency tests (as Loom,
// Shuttle, Coyote and CHESS do it): real threads, but exactly one runs at a
// time, and it hands over only at scheduling points -- the synchronization
// events of impl/, hooked in its few wrappers (impl/mutex.h,
// impl/mmap_lock.h, impl/refcount.h, impl/rcu.cc). A strategy picks the
// next thread at each point; the picks are the schedule, printable and
// replayable exactly.
//
// Strategies:
//  - random: a uniform pick at each point (seeded);
//  - pct: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010)
//    with bug depth d: random distinct thread priorities, d - 1 priority
//    change points among the first k steps; the highest-priority runnable
//    thread runs. A bug of depth d is found with probability at least
//    1 / (n k^(d-1)) per run;
//  - list: replays a recorded sequence of picks (what every failure prints);
//  - dfs (explore()): every schedule up to a preemption bound, in turn.
//
// Blocking: a thread that cannot go on (a lock held by another thread, a
// grace period with readers inside) calls block_on(obj) and is not runnable
// until someone calls released(obj). No runnable thread while some are
// blocked is a deadlock: run() reports it, with each thread's position,
// and leaves those threads blocked for ever (the caller reports and exits).
// A run longer than max_steps points is reported too (a livelock bound),
// never silently passed.
//
// Data races stay visible to ThreadSanitizer: the baton is a relaxed atomic
// and a raw futex, and the scheduler's own state is touched only in
// functions TSan does not instrument, so a hand-over creates no
// happens-before edge; the only ordering TSan sees is the program's own.
//
// Outside a run (or in a build without MMV_SCHED), the hooks do nothing.
//
// Thread safety: one run() at a time per process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmv::sched {

inline constexpr int kMaxThreads = 16;
// PCT's bug depth d is 1 to this (d - 1 priority change points).
inline constexpr int kMaxDepth = 16;

// ---- Hooks (called by impl/) ---------------------------------------------

// Whether the calling thread runs under a scheduler.
bool active();
// A scheduling point: the scheduler may switch to another thread here.
// `what` names the event, for reports ("mutex lock", "refcount dec").
void point(const char* what);
// The calling thread cannot proceed until released(obj): switch away.
void block_on(const void* obj, const char* what);
// Threads blocked on obj may proceed.
void released(const void* obj);

// An acquire of obj's synchronization (a lock taken, a wait for obj
// ended): under weak memory (below), the calling thread now happens after
// every released(obj) before it. Without weak memory it does nothing.
void acquired(const void* obj);

// ---- Weak memory (Options::weak_memory) -----------------------------------
//
// In a run with weak memory, the atomics that impl/ routes through its
// Atomic<T> wrapper (impl/atomic.h) behave as the C++ memory model allows
// rather than sequentially consistently: a load may return an older store
// to its location, chosen by the schedule, whenever no happens-before
// edge and no coherence rule forbids it. Happens-before is tracked with
// vector clocks: program order, release -> acquire on the wrapped atomics
// (with release sequences through read-modify-writes), released(obj) ->
// acquired(obj) for locks and waits, and thread start. The value chosen
// is a choice of the schedule like a thread pick: printed in the replay
// list, explored by DFS, counted as a preemption (reading the newest store
// is the choice that is not one). Outside such a run every hook below
// returns at once and the wrapper is the plain atomic.
//
// Kept simple, on the safe side: a seq_cst load reads the newest store; a
// load reaches back at most kWeakHistory - 1 stores; fences are not
// modelled; plain (non-atomic) memory is not versioned -- its races are
// ThreadSanitizer's. Each simplification can hide a behaviour, never
// invent one.
inline constexpr int kWeakHistory = 4;

// Whether the calling thread runs under a scheduler with weak memory
// (inline: every wrapped atomic access asks).
namespace detail {
extern thread_local constinit bool t_weak_memory;
}
inline bool weak_active() { return detail::t_weak_memory; }
// A load of the location at loc, whose newest value (the atomic's own) is
// `newest`: returns the value the load reads. `order` is a std::memory_order.
std::uint64_t weak_load(const void* loc, std::uint64_t newest, int order);
// A store of value to loc, whose newest value was `before` (after it was
// made on the atomic).
void weak_store(const void* loc, std::uint64_t before, std::uint64_t value, int order);
// A read-modify-write of loc that read the newest value, `before`, and
// wrote `value` (or, failed = true, a compare-exchange that only read it).
void weak_rmw(const void* loc, std::uint64_t before, std::uint64_t value, int order, bool failed = false);
// loc's history ends: the object there is being made or destroyed.
void weak_forget(const void* loc);

// Writes what the calling thread holds into buf (a NUL-terminated line of
// at most cap bytes), about to block on `waiting_for`. The code whose locks
// block_on() stands for registers it (impl/ registers lockdep's held-lock
// list); block_on() asks it, so a deadlock report says who holds what.
using HeldLocksFn = void (*)(const void* waiting_for, char* buf, std::size_t cap);
void set_held_locks_hook(HeldLocksFn fn);

// ---- Schedules -------------------------------------------------------------

enum class Strategy { kRandom, kPct, kList };

struct Schedule {
  Strategy strategy = Strategy::kRandom;
  std::uint64_t seed = 1;
  int depth = 2;             // pct: the bug depth d
  std::uint64_t k = 1000;    // pct: change points fall in steps [1, k]
  std::vector<std::uint8_t> picks;  // list: the thread picked at each point with a choice

  // "random:seed=7", "pct:seed=7,depth=2,k=1000", "list:0*12.1.0*3.2".
  std::string to_string() const;
  static std::optional<Schedule> parse(std::string_view text, std::string* error = nullptr);
};

struct Options {
  Schedule schedule;
  std::uint64_t max_steps = 200000;  // points per run before a livelock report
  // Loads of impl/'s wrapped atomics may read older stores (see "Weak
  // memory" above). A replay must set it as the run did.
  bool weak_memory = false;
};

struct RunResult {
  enum class Ending { kFinished, kDeadlock, kStepLimit } ending = Ending::kFinished;
  std::uint64_t steps = 0;        // scheduling points passed
  int preemptions = 0;            // switches away from a thread that could have gone on (and older stores read)
  // Weak memory: loads that had an older store to read, and those that read one.
  std::uint64_t weak_choices = 0;
  std::uint64_t stale_reads = 0;
  Schedule replay;                // a list schedule that replays this run exactly
  std::string report;             // deadlock / step limit: each thread's position
  // At each choice of replay.picks: the threads that could run (a bit
  // each), and the thread that could have gone on (-1: none). What DFS
  // branches on and shrinking removes.
  std::vector<std::uint16_t> runnable;
  std::vector<std::int8_t> prev;
};
const char* ending_name(RunResult::Ending e);

// Runs body(0), ..., body(threads - 1) on their own threads under the
// scheduler, one at a time; returns when all have finished, or deadlocked,
// or hit the step limit.
RunResult run(int threads, const std::function<void(int)>& body, const Options& options);

// ---- Systematic search and shrinking ------------------------------------------

// One whole test under one schedule, run by the caller (which sets the test
// up, calls run(), and checks): the scheduled run, and whether the test
// failed.
struct Trial {
  RunResult run;
  bool failed = false;
};
using Runner = std::function<Trial(const Schedule&)>;

struct ExploreResult {
  std::uint64_t schedules = 0;  // runs made
  bool exhausted = false;       // every schedule within the bound was run
  std::optional<RunResult> failure;  // the first failing run, if any
};

// Runs the test under every schedule with at most `preemption_bound`
// preemptions (depth first over the picks; a pick past the prefix never
// preempts), until a run fails (or deadlocks, or hits the step limit),
// max_schedules runs were made, or the space is exhausted.
ExploreResult explore(const Runner& runner, int preemption_bound, std::uint64_t max_schedules);
// The same for a body run by run() itself; `failed` is asked after each run.
ExploreResult explore(int threads, const std::function<void(int)>& body,
                      const std::function<bool(const RunResult&)>& failed, int preemption_bound,
                      std::uint64_t max_schedules, std::uint64_t max_steps = 200000);

// From a failing schedule, one with fewer preemptions that still fails:
// each preemption in turn is dropped (from there on, or only there) while
// the test still fails; at most max_tries runs.
Schedule shrink(const Runner& runner, const Schedule& failing, int max_tries = 200);
Schedule shrink(int threads, const std::function<void(int)>& body, const Schedule& failing,
                const std::function<bool(const RunResult&)>& failed, int max_tries = 200,
                std::uint64_t max_steps = 200000);

}  // namespace mmv::sched
