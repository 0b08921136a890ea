// Refcount: the model of refcount_t (model/refcount.h). Saturation instead of
// wrapping, no change on misuse at zero, inc_not_zero.
//
//   0 <---- dec ---- 1 ... kMax ---- inc ----> kSaturated (sticky)
//   ^ inc/dec at 0: no change, reported as an Event

#include "model/refcount.h"

#include <gtest/gtest.h>

namespace mmv::model {
namespace {

using Event = Refcount::Event;

TEST(Refcount, StartsAtInitialValue) {
  Refcount r(3);
  EXPECT_EQ(r.value(), 3u);
  EXPECT_FALSE(r.saturated());
  EXPECT_EQ(Refcount(0).value(), 0u);
}

TEST(Refcount, IncAndDecAreOrdinaryInTheMiddle) {
  Refcount r(1);
  EXPECT_EQ(r.inc(), Event::kOk);
  EXPECT_EQ(r.value(), 2u);
  EXPECT_EQ(r.inc(), Event::kOk);
  EXPECT_EQ(r.value(), 3u);
  EXPECT_EQ(r.dec(), Event::kOk);
  EXPECT_EQ(r.value(), 2u);
}

TEST(Refcount, DecToZeroReportsHitZero) {
  Refcount r(2);
  EXPECT_EQ(r.dec(), Event::kOk);
  EXPECT_EQ(r.dec(), Event::kHitZero);
  EXPECT_EQ(r.value(), 0u);
}

TEST(Refcount, DecAtZeroIsUnderflowAndChangesNothing) {
  Refcount r(0);
  EXPECT_EQ(r.dec(), Event::kUnderflow);
  EXPECT_EQ(r.value(), 0u);
  EXPECT_FALSE(r.saturated());
  // Still zero: a second misuse is reported again.
  EXPECT_EQ(r.dec(), Event::kUnderflow);
  EXPECT_EQ(r.value(), 0u);
}

TEST(Refcount, IncFromZeroIsReportedAndChangesNothing) {
  Refcount r(1);
  ASSERT_EQ(r.dec(), Event::kHitZero);
  EXPECT_EQ(r.inc(), Event::kIncFromZero);
  EXPECT_EQ(r.value(), 0u);
  EXPECT_FALSE(r.saturated());
}

TEST(Refcount, IncAtMaxSaturates) {
  Refcount r(Refcount::kMax - 1);
  EXPECT_EQ(r.inc(), Event::kOk);
  EXPECT_EQ(r.value(), Refcount::kMax);
  EXPECT_FALSE(r.saturated());
  EXPECT_EQ(r.inc(), Event::kSaturated);
  EXPECT_EQ(r.value(), Refcount::kSaturated);
  EXPECT_TRUE(r.saturated());
}

TEST(Refcount, SaturatedCounterIsStickyForIncAndDec) {
  Refcount r(Refcount::kMax);
  ASSERT_EQ(r.inc(), Event::kSaturated);
  // Reported once; afterwards the counter silently stays saturated.
  EXPECT_EQ(r.inc(), Event::kOk);
  EXPECT_EQ(r.value(), Refcount::kSaturated);
  // A saturated counter never reaches zero: memory is leaked, never freed.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(r.dec(), Event::kOk);
  }
  EXPECT_EQ(r.value(), Refcount::kSaturated);
  EXPECT_TRUE(r.saturated());
}

TEST(Refcount, AnyValueAboveMaxCountsAsSaturated) {
  Refcount r(Refcount::kMax + 1);
  EXPECT_TRUE(r.saturated());
  EXPECT_EQ(r.dec(), Event::kOk);
  EXPECT_EQ(r.value(), Refcount::kMax + 1);
}

TEST(Refcount, IncNotZeroFailsAtZeroWithoutChange) {
  Refcount r(0);
  Event ev = Event::kHitZero;  // must be overwritten
  EXPECT_FALSE(r.inc_not_zero(&ev));
  EXPECT_EQ(ev, Event::kOk);
  EXPECT_EQ(r.value(), 0u);
}

TEST(Refcount, IncNotZeroIncrementsALiveCounter) {
  Refcount r(5);
  Event ev = Event::kHitZero;
  EXPECT_TRUE(r.inc_not_zero(&ev));
  EXPECT_EQ(ev, Event::kOk);
  EXPECT_EQ(r.value(), 6u);
}

TEST(Refcount, IncNotZeroAtMaxSaturates) {
  Refcount r(Refcount::kMax);
  Event ev = Event::kOk;
  EXPECT_TRUE(r.inc_not_zero(&ev));
  EXPECT_EQ(ev, Event::kSaturated);
  EXPECT_EQ(r.value(), Refcount::kSaturated);
  // Saturated: still succeeds, no new report, no change.
  EXPECT_TRUE(r.inc_not_zero(&ev));
  EXPECT_EQ(ev, Event::kOk);
  EXPECT_EQ(r.value(), Refcount::kSaturated);
}

TEST(Refcount, EmptyForeverAfterLastRelease) {
  // "Empty once the last user is gone, forever": after 1 -> 0, neither
  // inc_not_zero nor a (buggy) inc brings the counter back.
  Refcount r(1);
  ASSERT_EQ(r.dec(), Event::kHitZero);
  Event ev;
  EXPECT_FALSE(r.inc_not_zero(&ev));
  EXPECT_EQ(r.inc(), Event::kIncFromZero);
  EXPECT_FALSE(r.inc_not_zero(&ev));
  EXPECT_EQ(r.value(), 0u);
}

TEST(Refcount, EqualityComparesValues) {
  EXPECT_EQ(Refcount(4), Refcount(4));
  EXPECT_NE(Refcount(4), Refcount(5));
  Refcount a(4);
  ASSERT_EQ(a.inc(), Event::kOk);
  EXPECT_EQ(a, Refcount(5));
}

}  // namespace
}  // namespace mmv::model
