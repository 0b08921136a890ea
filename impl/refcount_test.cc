// AtomicRefcount (impl/refcount.h) against model::Refcount (model/refcount.h).
// The impl counter is a CAS loop; the model is plain arithmetic. Every
// operation here is applied to both and must give the same event and leave
// the same value, including at the edges:
//
//   0 <---- dec ---- 1 ... kMax ---- inc ----> kSaturated (sticky)
//   ^ inc/dec at 0: no change, reported as an Event
//
// dec_unless_one() and add() have no model counterpart; add(n) is checked
// against n model increments, which is what it stands for.

#include "impl/refcount.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "model/refcount.h"
#include "testing/rc_default_params.h"

namespace mmv::impl::test {
namespace {

// Deterministic by default for the whole impl_test binary (set once, here).
MMV_RC_DEFAULT_PARAMS("seed=20250611 max_success=500 max_size=60");

using Event = AtomicRefcount::Event;
using MEvent = model::Refcount::Event;
constexpr std::uint32_t kMax = AtomicRefcount::kMax;
constexpr std::uint32_t kSaturated = AtomicRefcount::kSaturated;

static_assert(AtomicRefcount::kMax == model::Refcount::kMax);
static_assert(AtomicRefcount::kSaturated == model::Refcount::kSaturated);

// The two enums are separate types; map by name, so a reordering of either
// cannot make different events compare equal.
const char* Name(Event e) {
  switch (e) {
    case Event::kOk: return "kOk";
    case Event::kSaturated: return "kSaturated";
    case Event::kIncFromZero: return "kIncFromZero";
    case Event::kUnderflow: return "kUnderflow";
    case Event::kHitZero: return "kHitZero";
  }
  return "?";
}
const char* Name(MEvent e) {
  switch (e) {
    case MEvent::kOk: return "kOk";
    case MEvent::kSaturated: return "kSaturated";
    case MEvent::kIncFromZero: return "kIncFromZero";
    case MEvent::kUnderflow: return "kUnderflow";
    case MEvent::kHitZero: return "kHitZero";
  }
  return "?";
}

enum class Op { kInc, kIncNotZero, kDec };

const char* OpName(Op op) {
  switch (op) {
    case Op::kInc: return "inc";
    case Op::kIncNotZero: return "inc_not_zero";
    case Op::kDec: return "dec";
  }
  return "?";
}

// What one operation did to each side, as comparable strings
// ("kOk", "true/kSaturated", ...) plus the values afterwards.
struct Step {
  std::string model_event, impl_event;
  std::uint32_t model_value, impl_value;
};

Step Apply(Op op, model::Refcount& m, AtomicRefcount& i) {
  Step s;
  switch (op) {
    case Op::kInc:
      s.model_event = Name(m.inc());
      s.impl_event = Name(i.inc());
      break;
    case Op::kIncNotZero: {
      MEvent me = MEvent::kHitZero;  // must be overwritten by both
      Event ie = Event::kHitZero;
      const bool mok = m.inc_not_zero(&me);
      const bool iok = i.inc_not_zero(&ie);
      s.model_event = std::string(mok ? "true/" : "false/") + Name(me);
      s.impl_event = std::string(iok ? "true/" : "false/") + Name(ie);
      break;
    }
    case Op::kDec:
      s.model_event = Name(m.dec());
      s.impl_event = Name(i.dec());
      break;
  }
  s.model_value = m.value();
  s.impl_value = i.value();
  return s;
}

// Applies `op` to both counters; expects the same event and value and
// returns the impl's event (so the caller can also state what it expects).
std::string Lockstep(Op op, model::Refcount& m, AtomicRefcount& i) {
  const Step s = Apply(op, m, i);
  EXPECT_EQ(s.model_event, s.impl_event) << OpName(op) << ": model vs impl";
  EXPECT_EQ(s.model_value, s.impl_value) << OpName(op) << ": model vs impl";
  EXPECT_EQ(m.saturated(), i.saturated()) << OpName(op);
  return s.impl_event;
}

// ---- Event for event, at each edge ---------------------------------------

TEST(ImplRefcount, IncAndDecInTheMiddleMatchTheModel) {
  model::Refcount m(1);
  AtomicRefcount i(1);
  EXPECT_EQ(Lockstep(Op::kInc, m, i), "kOk");
  EXPECT_EQ(Lockstep(Op::kInc, m, i), "kOk");
  EXPECT_EQ(i.value(), 3u);
  EXPECT_EQ(Lockstep(Op::kDec, m, i), "kOk");
  EXPECT_EQ(i.value(), 2u);
  EXPECT_EQ(Lockstep(Op::kIncNotZero, m, i), "true/kOk");
  EXPECT_EQ(i.value(), 3u);
}

TEST(ImplRefcount, LastDecReportsHitZeroOnce) {
  model::Refcount m(2);
  AtomicRefcount i(2);
  EXPECT_EQ(Lockstep(Op::kDec, m, i), "kOk");
  EXPECT_EQ(Lockstep(Op::kDec, m, i), "kHitZero");
  EXPECT_EQ(i.value(), 0u);
  // A further drop is a bug the caller hears about, not a second release.
  EXPECT_EQ(Lockstep(Op::kDec, m, i), "kUnderflow");
  EXPECT_EQ(i.value(), 0u);
}

TEST(ImplRefcount, UnderflowChangesNothing) {
  model::Refcount m(0);
  AtomicRefcount i(0);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(Lockstep(Op::kDec, m, i), "kUnderflow");
  EXPECT_EQ(i.value(), 0u);
  EXPECT_FALSE(i.saturated());
}

TEST(ImplRefcount, IncFromZeroIsReportedAndNeverResurrects) {
  model::Refcount m(1);
  AtomicRefcount i(1);
  ASSERT_EQ(Lockstep(Op::kDec, m, i), "kHitZero");
  EXPECT_EQ(Lockstep(Op::kInc, m, i), "kIncFromZero");
  EXPECT_EQ(Lockstep(Op::kIncNotZero, m, i), "false/kOk");
  EXPECT_EQ(Lockstep(Op::kInc, m, i), "kIncFromZero");
  EXPECT_EQ(i.value(), 0u);
}

TEST(ImplRefcount, IncAtMaxSaturatesAndReportsOnce) {
  model::Refcount m(kMax - 1);
  AtomicRefcount i(kMax - 1);
  EXPECT_EQ(Lockstep(Op::kInc, m, i), "kOk");
  EXPECT_EQ(i.value(), kMax);
  EXPECT_FALSE(i.saturated());
  EXPECT_EQ(Lockstep(Op::kInc, m, i), "kSaturated");
  EXPECT_EQ(i.value(), kSaturated);
  EXPECT_TRUE(i.saturated());
  EXPECT_EQ(Lockstep(Op::kInc, m, i), "kOk");
  EXPECT_EQ(i.value(), kSaturated);
}

TEST(ImplRefcount, IncNotZeroAtMaxSaturates) {
  model::Refcount m(kMax);
  AtomicRefcount i(kMax);
  EXPECT_EQ(Lockstep(Op::kIncNotZero, m, i), "true/kSaturated");
  EXPECT_EQ(i.value(), kSaturated);
  EXPECT_EQ(Lockstep(Op::kIncNotZero, m, i), "true/kOk");
  EXPECT_EQ(i.value(), kSaturated);
}

TEST(ImplRefcount, SaturatedCounterIsStickyAndNeverFrees) {
  // A saturated object is leaked on purpose: no number of drops may reach
  // zero, because the real count is unknown.
  model::Refcount m(kMax);
  AtomicRefcount i(kMax);
  ASSERT_EQ(Lockstep(Op::kInc, m, i), "kSaturated");
  for (int k = 0; k < 100; ++k) ASSERT_EQ(Lockstep(Op::kDec, m, i), "kOk");
  EXPECT_EQ(i.value(), kSaturated);
  EXPECT_TRUE(i.saturated());
  // Any value above kMax counts as saturated, not only kSaturated itself.
  model::Refcount m2(kMax + 1);
  AtomicRefcount i2(kMax + 1);
  EXPECT_TRUE(i2.saturated());
  EXPECT_EQ(Lockstep(Op::kDec, m2, i2), "kOk");
  EXPECT_EQ(Lockstep(Op::kInc, m2, i2), "kOk");
  EXPECT_EQ(i2.value(), kMax + 1);
}

// ---- dec_unless_one and add ----------------------------------------------

TEST(ImplRefcount, DecUnlessOneRefusesToDropTheLastReference) {
  AtomicRefcount i(3);
  EXPECT_TRUE(i.dec_unless_one());
  EXPECT_EQ(i.value(), 2u);
  EXPECT_TRUE(i.dec_unless_one());
  EXPECT_EQ(i.value(), 1u);
  EXPECT_FALSE(i.dec_unless_one());
  EXPECT_EQ(i.value(), 1u);
  // The one that would release the object is left to dec(), which says so.
  EXPECT_EQ(i.dec(), Event::kHitZero);
}

TEST(ImplRefcount, DecUnlessOneAtZeroOrSaturatedChangesNothing) {
  AtomicRefcount zero(0);
  EXPECT_FALSE(zero.dec_unless_one());
  EXPECT_EQ(zero.value(), 0u);
  AtomicRefcount sat(kSaturated);
  EXPECT_TRUE(sat.dec_unless_one());
  EXPECT_EQ(sat.value(), kSaturated);
}

TEST(ImplRefcount, AddIsNIncrementsOfTheModel) {
  // Values near kMax cross the saturation point inside one add().
  for (std::uint32_t start : {1u, 7u, kMax - 600, kMax - 512, kMax - 511, kMax, kSaturated}) {
    for (std::uint32_t n : {1u, 2u, 511u, 512u}) {
      model::Refcount m(start);
      for (std::uint32_t k = 0; k < n; ++k) m.inc();
      AtomicRefcount i(start);
      i.add(n);
      EXPECT_EQ(i.value(), m.value()) << "start=" << start << " n=" << n;
      EXPECT_EQ(i.saturated(), m.saturated()) << "start=" << start << " n=" << n;
    }
  }
}

// ---- Random sequences -----------------------------------------------------

rc::Gen<std::uint32_t> StartValue() {
  return rc::gen::oneOf(rc::gen::inRange<std::uint32_t>(0, 6),
                        rc::gen::inRange<std::uint32_t>(kMax - 5, kMax + 1),
                        rc::gen::element(kSaturated, kMax + 1, ~std::uint32_t{0}));
}

RC_GTEST_PROP(ImplRefcount, RandomSequencesMatchTheModelEventForEvent, ()) {
  const std::uint32_t start = *StartValue();
  const auto ops = *rc::gen::container<std::vector<Op>>(
      rc::gen::element(Op::kInc, Op::kIncNotZero, Op::kDec));
  model::Refcount m(start);
  AtomicRefcount i(start);
  for (Op op : ops) {
    const Step s = Apply(op, m, i);
    RC_ASSERT(s.model_event == s.impl_event);
    RC_ASSERT(s.model_value == s.impl_value);
    RC_ASSERT(m.saturated() == i.saturated());
  }
}

// ---- Concurrency ----------------------------------------------------------

TEST(ImplRefcount, ConcurrentIncDecPairsKeepTheCountAndReleaseExactlyOnce) {
  // Each thread owns one reference (handed to it before it starts) and
  // churns inc/dec pairs on top of it; the creator drops its own reference
  // while they run. Whoever drops last -- under any interleaving -- must be
  // the only one to see kHitZero, and nobody may see anything but kOk
  // before that.
  constexpr int kThreads = 4;
  constexpr int kPairs = 2000;
  AtomicRefcount r(1);
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(r.inc(), Event::kOk);
  std::atomic<int> hit_zero{0};
  std::atomic<int> other_events{0};
  std::atomic<bool> floor_ok{true};
  auto note = [&](Event e) {
    if (e == Event::kHitZero) {
      hit_zero.fetch_add(1);
    } else if (e != Event::kOk) {
      other_events.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kPairs; ++k) {
        note(r.inc());
        // This thread still holds its own reference: never below 1.
        if (r.value() < 1) floor_ok.store(false);
        note(r.dec());
      }
      note(r.dec());  // the thread's own reference
    });
  }
  note(r.dec());  // the creator's reference, while the threads run
  for (auto& th : threads) th.join();
  EXPECT_EQ(hit_zero.load(), 1);
  EXPECT_EQ(other_events.load(), 0);
  EXPECT_TRUE(floor_ok.load());
  EXPECT_EQ(r.value(), 0u);
}

TEST(ImplRefcount, ConcurrentPairsOnAHeldCounterEndWhereTheyStarted) {
  // The main thread keeps its reference throughout: no pair may release.
  constexpr int kThreads = 4;
  constexpr int kPairs = 2000;
  AtomicRefcount r(1);
  std::atomic<int> not_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kPairs; ++k) {
        Event ev;
        if (!r.inc_not_zero(&ev) || ev != Event::kOk) not_ok.fetch_add(1);
        if (r.dec() != Event::kOk) not_ok.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(not_ok.load(), 0);
  EXPECT_EQ(r.value(), 1u);
  EXPECT_EQ(r.dec(), Event::kHitZero);
}

}  // namespace
}  // namespace mmv::impl::test
