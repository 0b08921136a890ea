#include "impl/rcu.h"

#include <urcu/urcu-memb.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

#include "impl/fault_switch.h"
#include "impl/sanitizers.h"
#include "impl/sched_hooks.h"


namespace mmv::impl::rcu {

Rcu kRcu;

namespace {

// Registers the thread with liburcu on first use and unregisters it at
// thread exit, or earlier (unregister_thread); a registered thread that
// exits without unregistering would leave liburcu waiting on a reader that
// no longer exists.
struct Registration {
  bool on = false;
  void ensure() {
    if (!on) urcu_memb_register_thread();
    on = true;
  }
  void end() {
    if (on) urcu_memb_unregister_thread();
    on = false;
  }
  ~Registration() { end(); }
};
thread_local Registration t_registration;

thread_local int t_depth = 0;

#if MMV_TSAN
std::atomic<unsigned long> g_readers_done{0};
#endif

std::mutex g_retired_mu;
std::vector<std::function<void()>> g_retired;  // guarded by g_retired_mu
std::mutex g_reclaim_mu;  // one grace period + free pass at a time

// Under the controlled scheduler (impl/sched_hooks.h) the grace period is
// the scheduler's own, in two phases as SRCU counts them: each read section
// counts itself in the phase current when it began, and a grace period
// flips the phase, then waits (a scheduler wait) until the old phase has no
// reader left. So it waits for the readers that were inside when it started
// and for no one else, as Linux's does: a reader that begins during it is
// not waited for, which is what makes a retire during a grace period a
// window to explore. liburcu's synchronize_rcu would also wait for those
// later readers, and block the one running thread on a reader the
// scheduler has paused: it is left out of scheduled runs, whose threads
// are all scheduled.
std::atomic<int> g_scheduled_readers[2] = {0, 0};
std::atomic<int> g_phase{0};
thread_local int t_phase = 0;  // the phase this thread's read section counts in

// std::lock_guard, but a scheduler wait under the scheduler.
class SchedGuard {
 public:
  explicit SchedGuard(std::mutex& mu) : mu_(mu) { sched_lock(mu_, "rcu internal lock"); }
  ~SchedGuard() { sched_unlock(mu_); }
  SchedGuard(const SchedGuard&) = delete;
  SchedGuard& operator=(const SchedGuard&) = delete;

 private:
  std::mutex& mu_;
};

// Takes what was retired so far (under g_retired_mu).
std::vector<std::function<void()>> take_retired() {
  std::vector<std::function<void()>> batch;
  SchedGuard g(g_retired_mu);
  batch.swap(g_retired);
  return batch;
}

void grace_period_and_free() {
  SchedGuard one_at_a_time(g_reclaim_mu);
  // What this grace period may free is what was retired before it began.
  // Test-only fault (impl/fault_switch.h): taken after it ends instead.
  const bool late = fault_active(Fault::kRetireInGracePeriod);
  std::vector<std::function<void()>> batch;
  if (!late) {
    batch = take_retired();
    if (batch.empty()) return;
  } else if (pending() == 0) {
    return;
  }
  if (sched_active()) {
    sched_point("rcu grace period start");
    const int old = g_phase.load(std::memory_order_relaxed);
    g_phase.store(1 - old, std::memory_order_relaxed);
    // Weak memory: what happened before the grace period began happens
    // before every read section that begins after it (the ordering its
    // barriers give in Linux), so such a reader finds the new pointers.
    sched_released(&g_phase);
    while (g_scheduled_readers[old].load(std::memory_order_acquire) > 0)
      sched_block_on(&g_scheduled_readers[old], "rcu grace period");
    sched_acquired(&g_scheduled_readers[old]);  // every old reader's end happens before
    sched_point("rcu grace period end");
  } else {
    urcu_memb_synchronize_rcu();
  }
#if MMV_TSAN
  (void)g_readers_done.load(std::memory_order_acquire);
#endif
  if (late) batch = take_retired();
  for (auto& f : batch) f();
}

}  // namespace

ReadGuard::ReadGuard() {
  t_registration.ensure();
  if (t_depth++ == 0) {
    if (sched_active()) {
      sched_acquired(&g_phase);
      t_phase = g_phase.load(std::memory_order_relaxed);
      g_scheduled_readers[t_phase].fetch_add(1, std::memory_order_relaxed);
    }
    urcu_memb_read_lock();
  }
}

ReadGuard::~ReadGuard() {
  if (--t_depth == 0) {
#if MMV_TSAN
    g_readers_done.fetch_add(1, std::memory_order_release);
#endif
    urcu_memb_read_unlock();
    if (sched_active()) {
      g_scheduled_readers[t_phase].fetch_sub(1, std::memory_order_release);
      sched_released(&g_scheduled_readers[t_phase]);
      sched_point("rcu read unlock");
    }
  }
}

bool in_read_section() { return t_depth > 0; }

void unregister_thread() {
  if (in_read_section()) {
    std::fprintf(stderr, "rcu::unregister_thread() inside a read section\n");
    std::abort();
  }
  t_registration.end();
}

void retire(std::function<void()> free) {
  sched_point("rcu retire");
  SchedGuard g(g_retired_mu);
  g_retired.push_back(std::move(free));
}

std::size_t pending() {
  SchedGuard g(g_retired_mu);
  return g_retired.size();
}

void reclaim(std::size_t threshold) {
  // Under the scheduler every chance is taken: a grace period per call
  // gives PCT a grace period to place each retire and each reader inside.
  if (sched_active()) threshold = 0;
  if (in_read_section() || pending() <= threshold) return;
  grace_period_and_free();
}

void barrier() {
  if (in_read_section()) {
    std::fprintf(stderr, "rcu::barrier() inside a read section would wait for itself\n");
    std::abort();
  }
  // A freed object may retire more (a snapshot retiring its VMAs); loop.
  while (pending() > 0) grace_period_and_free();
}

}  // namespace mmv::impl::rcu
