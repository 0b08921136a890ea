#include "impl/rcu.h"

#include <urcu/urcu-memb.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

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

// Under the controlled scheduler (impl/sched_hooks.h): how many scheduled
// threads are inside a read section. A grace period waits for them as a
// scheduler wait, so that liburcu never blocks the one running thread on a
// reader the scheduler has paused.
std::atomic<int> g_scheduled_readers{0};

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

void grace_period_and_free() {
  SchedGuard one_at_a_time(g_reclaim_mu);
  std::vector<std::function<void()>> batch;
  {
    SchedGuard g(g_retired_mu);
    batch.swap(g_retired);
  }
  if (batch.empty()) return;
  if (sched_active()) {
    sched_point("rcu grace period");
    while (g_scheduled_readers.load(std::memory_order_acquire) > 0)
      sched_block_on(&g_scheduled_readers, "rcu grace period");
  }
  urcu_memb_synchronize_rcu();
#if MMV_TSAN
  (void)g_readers_done.load(std::memory_order_acquire);
#endif
  for (auto& f : batch) f();
}

}  // namespace

ReadGuard::ReadGuard() {
  t_registration.ensure();
  if (t_depth++ == 0) {
    if (sched_active()) g_scheduled_readers.fetch_add(1, std::memory_order_relaxed);
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
      g_scheduled_readers.fetch_sub(1, std::memory_order_release);
      sched_released(&g_scheduled_readers);
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
  SchedGuard g(g_retired_mu);
  g_retired.push_back(std::move(free));
}

std::size_t pending() {
  SchedGuard g(g_retired_mu);
  return g_retired.size();
}

void reclaim(std::size_t threshold) {
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
