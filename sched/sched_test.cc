// The controlled scheduler (sched/sched.h) on small programs of its own:
// each strategy finds a lost update, a failing schedule replays exactly,
// shrinking leaves the one preemption that matters, DFS counts and
// exhausts its space, and a deadlock and a livelock are reported, not hung
// on.
#include "sched/sched.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace mmv::sched {
namespace {

// A shared counter incremented with a separate load and store: a lost
// update needs one preemption between them. Atomic accesses, so that the
// test program itself has no data race for TSan to report.
struct LostUpdate {
  std::atomic<int> x{0};
  // What ran, in order: thread * 100 + step. One thread runs at a time;
  // the atomics keep TSan quiet about the hand-over it cannot see.
  std::atomic<int> log[64];
  std::atomic<int> n{0};

  void note(int what) { log[n.fetch_add(1, std::memory_order_relaxed)].store(what, std::memory_order_relaxed); }
  std::vector<int> history() const {
    std::vector<int> out;
    for (int i = 0; i < n.load(); ++i) out.push_back(log[i].load());
    return out;
  }
  void body(int t) {
    for (int round = 0; round < 2; ++round) {
      point("load");
      const int v = x.load(std::memory_order_relaxed);
      note(t * 100 + round * 2);
      point("store");
      x.store(v + 1, std::memory_order_relaxed);
      note(t * 100 + round * 2 + 1);
    }
  }
};

bool lost(const LostUpdate& p) { return p.x.load() != 4; }

// Runs the program once under `s`; returns whether the update was lost.
bool lost_under(const Schedule& s, RunResult* out = nullptr, std::vector<int>* history = nullptr) {
  LostUpdate p;
  Options o;
  o.schedule = s;
  const RunResult r = run(2, [&](int t) { p.body(t); }, o);
  EXPECT_EQ(r.ending, RunResult::Ending::kFinished) << r.report;
  if (out) *out = r;
  if (history) *history = p.history();
  return lost(p);
}

// The first random schedule (seeds 1..500) that loses the update with at
// least `min_preemptions` preemptions; its run in *out.
std::optional<Schedule> first_random_failure(int min_preemptions, RunResult* out) {
  for (int seed = 1; seed <= 500; ++seed) {
    Schedule s;
    s.strategy = Strategy::kRandom;
    s.seed = static_cast<std::uint64_t>(seed);
    if (lost_under(s, out) && out->preemptions >= min_preemptions) return out->replay;
  }
  return std::nullopt;
}

TEST(Sched, OutsideARunHooksDoNothing) {
  EXPECT_FALSE(active());
  point("nothing");
  block_on(this, "nothing");
  released(this);
}

TEST(Sched, EachStrategyFindsTheLostUpdate) {
  for (Strategy strategy : {Strategy::kRandom, Strategy::kPct}) {
    int found_at = -1;
    for (int seed = 1; seed <= 200 && found_at < 0; ++seed) {
      Schedule s;
      s.strategy = strategy;
      s.seed = static_cast<std::uint64_t>(seed);
      s.depth = 2;
      s.k = 16;
      if (lost_under(s)) found_at = seed;
    }
    EXPECT_GT(found_at, 0) << "strategy " << static_cast<int>(strategy) << " never lost the update in 200 runs";
  }
}

TEST(Sched, NonPreemptiveRunsAreCorrect) {
  // The empty list: never preempt. Each thread runs to the end in turn.
  Schedule s;
  s.strategy = Strategy::kList;
  RunResult r;
  EXPECT_FALSE(lost_under(s, &r));
  EXPECT_EQ(r.preemptions, 0);
}

TEST(Sched, AFailingScheduleReplaysExactlyTenTimes) {
  RunResult first;
  const std::optional<Schedule> found = first_random_failure(1, &first);
  ASSERT_TRUE(found.has_value()) << "no failing schedule found";
  const Schedule failing = *found;
  ASSERT_EQ(failing.strategy, Strategy::kList);
  // The printed form, parsed back, is what a user replays.
  const std::optional<Schedule> parsed = Schedule::parse(failing.to_string());
  ASSERT_TRUE(parsed.has_value());
  std::vector<int> want;
  ASSERT_TRUE(lost_under(*parsed, nullptr, &want));
  for (int i = 0; i < 10; ++i) {
    std::vector<int> got;
    EXPECT_TRUE(lost_under(*parsed, nullptr, &got)) << "replay " << i;
    EXPECT_EQ(got, want) << "replay " << i << " took another interleaving";
  }
}

TEST(Sched, ShrinkingLeavesOnePreemption) {
  // A random schedule preempts often; the lost update needs only one.
  RunResult r;
  const std::optional<Schedule> found = first_random_failure(2, &r);
  ASSERT_TRUE(found.has_value()) << "no random failure with 2 or more preemptions";
  const Schedule failing = *found;
  auto p = std::make_unique<LostUpdate>();
  const Schedule small = shrink(
      2, [&](int t) { p->body(t); }, failing,
      [&](const RunResult&) {
        const bool bad = lost(*p);
        p = std::make_unique<LostUpdate>();  // a fresh program for the next run
        return bad;
      },
      200);
  RunResult after;
  EXPECT_TRUE(lost_under(small, &after)) << small.to_string();
  EXPECT_EQ(after.preemptions, 1) << "from " << r.preemptions << ": " << small.to_string();
}

TEST(Sched, DfsFindsTheLostUpdateWithinOnePreemption) {
  auto p = std::make_unique<LostUpdate>();
  const ExploreResult r = explore(
      2, [&](int t) { p->body(t); },
      [&](const RunResult&) {
        const bool bad = lost(*p);
        p = std::make_unique<LostUpdate>();
        return bad;
      },
      /*preemption_bound=*/1, /*max_schedules=*/1000);
  ASSERT_TRUE(r.failure.has_value()) << r.schedules << " schedules";
  EXPECT_LE(r.failure->preemptions, 1);
  EXPECT_FALSE(r.exhausted);
}

TEST(Sched, DfsExhaustsACorrectProgram) {
  // With a real atomic increment there is nothing to find: DFS runs every
  // schedule within the bound and says so.
  std::atomic<int> x{0};
  const ExploreResult r = explore(
      2,
      [&](int) {
        for (int i = 0; i < 3; ++i) {
          point("add");
          x.fetch_add(1);
        }
      },
      [&](const RunResult&) {
        const bool bad = x.load() != 6;
        x = 0;
        return bad;
      },
      /*preemption_bound=*/2, /*max_schedules=*/100000);
  EXPECT_FALSE(r.failure.has_value());
  EXPECT_TRUE(r.exhausted);
  EXPECT_GT(r.schedules, 3u);
}

// Two locks taken in opposite orders: a deadlock under one interleaving.
// The locks are scheduler waits, like impl/sched_hooks.h's, and keep a
// held-lock list per thread, like impl/lockdep.h's.
thread_local std::vector<const char*> t_held;
void held_names(const void*, char* buf, std::size_t cap) {
  std::string s;
  for (const char* n : t_held) s += (s.empty() ? "" : " ") + std::string(n);
  std::snprintf(buf, cap, "%s", s.c_str());
}

struct Lock {
  const char* name;
  std::mutex mu;
  void lock() {
    point(name);
    while (!mu.try_lock()) block_on(&mu, name);
    t_held.push_back(name);
  }
  void unlock() {
    t_held.pop_back();
    mu.unlock();
    released(&mu);
  }
};

TEST(Sched, ALockInversionIsReportedAsADeadlock) {
  // Leaked on purpose: a deadlocked run leaves its threads blocked on them.
  auto* a = new Lock{"A", {}};
  auto* b = new Lock{"B", {}};
  set_held_locks_hook(&held_names);
  const ExploreResult r = explore(
      2,
      [=](int t) {
        Lock& first = t == 0 ? *a : *b;
        Lock& second = t == 0 ? *b : *a;
        first.lock();
        second.lock();
        second.unlock();
        first.unlock();
      },
      [](const RunResult&) { return false; }, 2, 1000);
  set_held_locks_hook(nullptr);
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(r.failure->ending, RunResult::Ending::kDeadlock);
  // Each thread's position, and what it holds.
  EXPECT_NE(r.failure->report.find("thread 0: blocked at B"), std::string::npos) << r.failure->report;
  EXPECT_NE(r.failure->report.find("thread 1: blocked at A"), std::string::npos) << r.failure->report;
  EXPECT_NE(r.failure->report.find("), holding A\n"), std::string::npos) << r.failure->report;
  EXPECT_NE(r.failure->report.find("), holding B\n"), std::string::npos) << r.failure->report;
}

TEST(Sched, ALivelockHitsTheStepLimit) {
  auto* stop = new std::atomic<bool>{false};  // never set: thread 0 spins for ever
  Options o;
  o.max_steps = 1000;
  const RunResult r = run(
      1,
      [=](int) {
        while (!stop->load()) point("spin");
      },
      o);
  EXPECT_EQ(r.ending, RunResult::Ending::kStepLimit);
  EXPECT_NE(r.report.find("step limit"), std::string::npos);
  EXPECT_NE(r.report.find("runnable at spin"), std::string::npos) << r.report;
}

TEST(Sched, SchedulesPrintAndParse) {
  for (const char* text : {"random:seed=7", "pct:seed=3,depth=3,k=500", "list:0*12.1.0*3.2"}) {
    const auto s = Schedule::parse(text);
    ASSERT_TRUE(s.has_value()) << text;
    EXPECT_EQ(s->to_string(), text);
  }
  std::string error;
  for (const char* bad : {"", "fifo:seed=1", "pct:depth=0", "random:seed=x", "list:0*0", "list:99", "pct:seed"}) {
    EXPECT_FALSE(Schedule::parse(bad, &error).has_value()) << bad;
    EXPECT_NE(error.find("bad schedule"), std::string::npos);
  }
}

}  // namespace
}  // namespace mmv::sched
