// Weak memory in the controlled scheduler (sched/sched.h, "Weak memory"),
// held to the C++ memory model on litmus tests: what relaxed accesses
// allow is reached, what release/acquire, coherence and locks forbid never
// is (DFS over every schedule and every load's choice, to exhaustion), and
// a weak outcome replays exactly from its printed schedule.
//
// The tests drive the hooks directly, as impl/atomic.h does: the newest
// value of each location lives in a std::atomic of the test, and every
// access goes through weak_load/weak_store after a scheduling point.
#include "sched/sched.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace mmv::sched {
namespace {

constexpr int kRelaxed = static_cast<int>(std::memory_order_relaxed);
constexpr int kAcquire = static_cast<int>(std::memory_order_acquire);
constexpr int kRelease = static_cast<int>(std::memory_order_release);
constexpr int kSeqCst = static_cast<int>(std::memory_order_seq_cst);

// A location: its newest value, and the weak view of it.
struct Loc {
  std::atomic<std::uint64_t> v{0};
  void store(std::uint64_t x, int order) {
    point("store");
    weak_store(this, v.exchange(x, std::memory_order_relaxed), x, order);
  }
  std::uint64_t load(int order) {
    point("load");
    return weak_load(this, v.load(std::memory_order_relaxed), order);
  }
};

Options weak_options(const Schedule& s) {
  Options o;
  o.schedule = s;
  o.weak_memory = true;
  return o;
}

// Every schedule and every choice of every load, to exhaustion; `outcome`
// is asked after each run. Returns how many runs gave `wanted`.
struct Count {
  std::uint64_t runs = 0, hits = 0;
  bool exhausted = false;
};
Count explore_all(int threads, const std::function<void(int)>& body, const std::function<bool()>& outcome,
                  const std::function<void()>& reset) {
  Count c;
  const Runner runner = [&](const Schedule& s) {
    reset();
    Trial t;
    t.run = run(threads, body, weak_options(s));
    EXPECT_EQ(t.run.ending, RunResult::Ending::kFinished) << t.run.report;
    ++c.runs;
    if (outcome()) ++c.hits;
    return t;
  };
  const ExploreResult e = explore(runner, /*preemption_bound=*/20, /*max_schedules=*/200000);
  c.exhausted = e.exhausted;
  return c;
}

// Message passing: thread 0 writes data, then sets flag; thread 1 reads
// flag, then data. "flag seen, data not" is allowed with relaxed accesses
// and forbidden when the flag's store is a release and its load an acquire.
struct MessagePassing {
  Loc data, flag;
  std::atomic<std::uint64_t> r_flag{0}, r_data{0};
  int store_order, load_order;
  MessagePassing(int store, int load) : store_order(store), load_order(load) {}
  void body(int t) {
    if (t == 0) {
      data.store(1, kRelaxed);
      flag.store(1, store_order);
    } else {
      r_flag = flag.load(load_order);
      r_data = data.load(kRelaxed);
    }
  }
  bool weak_outcome() const { return r_flag == 1 && r_data == 0; }
  void reset() {
    data.v = 0;
    flag.v = 0;
    r_flag = r_data = 0;
  }
};

TEST(WeakMemory, RelaxedMessagePassingCanReadTheOldData) {
  MessagePassing p(kRelaxed, kRelaxed);
  const Count c = explore_all(2, [&](int t) { p.body(t); }, [&] { return p.weak_outcome(); }, [&] { p.reset(); });
  EXPECT_TRUE(c.exhausted);
  EXPECT_GT(c.hits, 0u) << c.runs << " runs";
}

TEST(WeakMemory, ReleaseAcquireMessagePassingNeverReadsTheOldData) {
  MessagePassing p(kRelease, kAcquire);
  const Count c = explore_all(2, [&](int t) { p.body(t); }, [&] { return p.weak_outcome(); }, [&] { p.reset(); });
  EXPECT_TRUE(c.exhausted);
  EXPECT_GT(c.runs, 10u);
  EXPECT_EQ(c.hits, 0u) << c.runs << " runs";
}

TEST(WeakMemory, AReleaseWithoutTheAcquireIsNotEnough) {
  MessagePassing p(kRelease, kRelaxed);
  const Count c = explore_all(2, [&](int t) { p.body(t); }, [&] { return p.weak_outcome(); }, [&] { p.reset(); });
  EXPECT_TRUE(c.exhausted);
  EXPECT_GT(c.hits, 0u) << c.runs << " runs";
}

// Store buffering: each thread stores to one location and loads the other.
// Both loads reading 0 is allowed for relaxed (and release/acquire) and
// forbidden for seq_cst.
struct StoreBuffering {
  Loc x, y;
  std::atomic<std::uint64_t> r0{9}, r1{9};
  int order;
  explicit StoreBuffering(int o) : order(o) {}
  void body(int t) {
    Loc& mine = t == 0 ? x : y;
    Loc& other = t == 0 ? y : x;
    mine.store(1, order);
    (t == 0 ? r0 : r1) = other.load(order);
  }
  bool both_zero() const { return r0 == 0 && r1 == 0; }
  void reset() {
    x.v = 0;
    y.v = 0;
    r0 = r1 = 9;
  }
};

TEST(WeakMemory, StoreBufferingIsAllowedForRelaxedAndNotForSeqCst) {
  StoreBuffering relaxed(kRelaxed);
  const Count a = explore_all(2, [&](int t) { relaxed.body(t); }, [&] { return relaxed.both_zero(); },
                              [&] { relaxed.reset(); });
  EXPECT_TRUE(a.exhausted);
  EXPECT_GT(a.hits, 0u) << a.runs << " runs";
  StoreBuffering sc(kSeqCst);
  const Count b = explore_all(2, [&](int t) { sc.body(t); }, [&] { return sc.both_zero(); }, [&] { sc.reset(); });
  EXPECT_TRUE(b.exhausted);
  EXPECT_EQ(b.hits, 0u) << b.runs << " runs";
}

// Coherence: once a thread has read a store, it never reads an older one
// of the same location; and a thread reads its own stores.
TEST(WeakMemory, ReadsAreCoherent) {
  Loc x;
  std::atomic<std::uint64_t> first{0}, second{0}, own{0};
  const Count c = explore_all(
      2,
      [&](int t) {
        if (t == 0) {
          x.store(1, kRelaxed);
          x.store(2, kRelaxed);
          own = x.load(kRelaxed);
        } else {
          first = x.load(kRelaxed);
          second = x.load(kRelaxed);
        }
      },
      [&] { return second < first || own != 2; }, [&] { x.v = 0, first = second = own = 0; });
  EXPECT_TRUE(c.exhausted);
  EXPECT_EQ(c.hits, 0u) << c.runs << " runs";
}

// A lock's release and acquire order what was written before the unlock
// before what is read after the lock: data written relaxed under a lock is
// never read stale by the next holder.
TEST(WeakMemory, ALockOrdersWhatItProtects) {
  Loc data, taken;
  std::atomic<bool> held{false};  // the lock; its address names it
  auto lock = [&] {
    point("lock");
    while (held.load(std::memory_order_relaxed)) block_on(&held, "lock");
    held.store(true, std::memory_order_relaxed);
    acquired(&held);
  };
  auto unlock = [&] {
    held.store(false, std::memory_order_relaxed);
    released(&held);
  };
  std::atomic<std::uint64_t> seen_taken{0}, seen_data{0};
  const Count c = explore_all(
      2,
      [&](int t) {
        lock();
        if (t == 0) {
          data.store(1, kRelaxed);
          taken.store(1, kRelaxed);
        } else {
          seen_taken = taken.load(kRelaxed);
          seen_data = data.load(kRelaxed);
        }
        unlock();
      },
      [&] { return seen_taken == 1 && seen_data == 0; },
      [&] { data.v = 0, taken.v = 0, held = false, seen_taken = seen_data = 0; });
  EXPECT_TRUE(c.exhausted);
  EXPECT_EQ(c.hits, 0u) << c.runs << " runs";
}

// A weak outcome found by a random schedule replays from its list
// schedule: the same values, ten times.
TEST(WeakMemory, AWeakOutcomeReplaysExactly) {
  MessagePassing p(kRelaxed, kRelaxed);
  std::optional<RunResult> found;
  for (std::uint64_t seed = 1; seed <= 500 && !found; ++seed) {
    p.reset();
    Schedule s;
    s.strategy = Strategy::kRandom;
    s.seed = seed;
    const RunResult r = run(2, [&](int t) { p.body(t); }, weak_options(s));
    if (p.weak_outcome()) found = r;
  }
  ASSERT_TRUE(found.has_value());
  EXPECT_GT(found->stale_reads, 0u);
  const std::string printed = found->replay.to_string();
  const std::optional<Schedule> again = Schedule::parse(printed);
  ASSERT_TRUE(again.has_value()) << printed;
  for (int i = 0; i < 10; ++i) {
    p.reset();
    (void)run(2, [&](int t) { p.body(t); }, weak_options(*again));
    EXPECT_TRUE(p.weak_outcome()) << "replay " << i << " of " << printed;
  }
}

// Without weak memory the hooks pass the newest value through.
TEST(WeakMemory, OffMeansTheNewestValue) {
  MessagePassing p(kRelaxed, kRelaxed);
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    p.reset();
    Schedule s;
    s.strategy = Strategy::kRandom;
    s.seed = seed;
    Options o;
    o.schedule = s;
    const RunResult r = run(2, [&](int t) { p.body(t); }, o);
    EXPECT_FALSE(p.weak_outcome()) << s.to_string();
    EXPECT_EQ(r.weak_choices, 0u);
  }
  EXPECT_FALSE(weak_active());
}

}  // namespace
}  // namespace mmv::sched
