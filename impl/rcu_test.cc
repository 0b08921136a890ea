// RCU (impl/rcu.h): retire() defers a free until a grace period, i.e. until
// every read section that was open at some point after the retire has
// ended; reclaim() and barrier() are where grace periods happen.
//
//   reader  |--- ReadGuard ------------------|
//   writer       retire(x)   barrier() ......|--> x freed
//                            (blocks until the reader leaves)
//
// The state is process-wide (one list of retired objects), so every test
// starts from an empty list.

#include "impl/rcu.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

namespace mmv::impl::test {
namespace {

class ImplRcu : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(rcu::in_read_section());
    rcu::barrier();  // whatever earlier tests left behind
    ASSERT_EQ(rcu::pending(), 0u);
  }
};

TEST_F(ImplRcu, RetiredObjectLivesUntilAGracePeriod) {
  bool freed = false;
  rcu::retire([&] { freed = true; });
  EXPECT_FALSE(freed);
  EXPECT_EQ(rcu::pending(), 1u);
  rcu::barrier();
  EXPECT_TRUE(freed);
  EXPECT_EQ(rcu::pending(), 0u);
}

TEST_F(ImplRcu, RetireDeleteRunsTheDestructor) {
  struct Tracked {
    bool* destroyed;
    ~Tracked() { *destroyed = true; }
  };
  bool destroyed = false;
  rcu::retire_delete(new Tracked{&destroyed});
  EXPECT_FALSE(destroyed);
  rcu::barrier();
  EXPECT_TRUE(destroyed);
}

TEST_F(ImplRcu, ReclaimInsideAReadSectionFreesNothing) {
  // Waiting for a grace period from inside a read section would wait for
  // itself; reclaim() must leave the work for later instead.
  bool freed = false;
  {
    rcu::ReadGuard g;
    rcu::retire([&] { freed = true; });
    rcu::reclaim(0);
    EXPECT_FALSE(freed);
    EXPECT_EQ(rcu::pending(), 1u);
  }
  rcu::reclaim(0);
  EXPECT_TRUE(freed);
  EXPECT_EQ(rcu::pending(), 0u);
}

TEST_F(ImplRcu, ReclaimWaitsForMoreThanThresholdPending) {
  int freed = 0;
  for (int k = 0; k < 3; ++k) rcu::retire([&] { ++freed; });
  rcu::reclaim(3);  // 3 pending is not more than 3
  EXPECT_EQ(freed, 0);
  rcu::reclaim(10);
  EXPECT_EQ(freed, 0);
  EXPECT_EQ(rcu::pending(), 3u);
  rcu::reclaim(2);  // over the threshold: frees everything retired so far
  EXPECT_EQ(freed, 3);
  EXPECT_EQ(rcu::pending(), 0u);
}

TEST_F(ImplRcu, ReclaimWithNothingPendingIsHarmless) {
  rcu::reclaim(0);
  rcu::barrier();
  EXPECT_EQ(rcu::pending(), 0u);
}

TEST_F(ImplRcu, BarrierAlsoFreesWhatFreeingRetires) {
  // A snapshot's deleter retires the VMAs it named: barrier() promises
  // everything, so it must go round again.
  int freed = 0;
  rcu::retire([&] {
    ++freed;
    rcu::retire([&] {
      ++freed;
      rcu::retire([&] { ++freed; });
    });
  });
  rcu::barrier();
  EXPECT_EQ(freed, 3);
  EXPECT_EQ(rcu::pending(), 0u);
}

// A read section entered from inside another, as a callee that takes its
// own guard does. (A separate function: Clang's analysis, rightly for
// exclusive locks, objects to a second guard in the same scope.)
bool InsideNestedSection() {
  rcu::ReadGuard inner;
  return rcu::in_read_section();
}

TEST_F(ImplRcu, InReadSectionFollowsNestedGuards) {
  EXPECT_FALSE(rcu::in_read_section());
  {
    rcu::ReadGuard outer;
    EXPECT_TRUE(rcu::in_read_section());
    EXPECT_TRUE(InsideNestedSection());
    // Ending the inner guard does not end the section.
    EXPECT_TRUE(rcu::in_read_section());
  }
  EXPECT_FALSE(rcu::in_read_section());
}

TEST_F(ImplRcu, ReadSectionIsPerThread) {
  rcu::ReadGuard g;
  bool other_inside = true;
  std::thread([&] { other_inside = rcu::in_read_section(); }).join();
  EXPECT_FALSE(other_inside);
  EXPECT_TRUE(rcu::in_read_section());
}

// A reader on another thread enters a read section (nested or not); then
// the writer retires an object and calls barrier(). Whatever the
// interleaving, the object must not be freed while the reader is inside:
// the reader looks at the flag just before it leaves, and the deleter
// records whether the reader had already announced leaving. The yields only
// make it likely that barrier() is really blocked when the reader looks;
// the verdict does not depend on them.
void ReaderHoldsUpFreeing(bool nested) {
  std::atomic<bool> entered{false}, writer_waiting{false}, leaving{false};
  std::atomic<bool> freed{false};
  std::atomic<bool> freed_while_inside{true};
  std::atomic<bool> reader_had_left_when_freed{false};

  std::thread reader([&] {
    rcu::ReadGuard outer;
    {
      std::optional<rcu::ReadGuard> inner;
      if (nested) inner.emplace();
      entered.store(true, std::memory_order_release);
      while (!writer_waiting.load(std::memory_order_acquire)) std::this_thread::yield();
    }  // the inner guard ends here; the outer one still protects
    for (int k = 0; k < 1000; ++k) std::this_thread::yield();
    freed_while_inside.store(freed.load(std::memory_order_acquire));
    leaving.store(true, std::memory_order_release);
  });

  while (!entered.load(std::memory_order_acquire)) std::this_thread::yield();
  rcu::retire([&] {
    reader_had_left_when_freed.store(leaving.load(std::memory_order_acquire));
    freed.store(true, std::memory_order_release);
  });
  writer_waiting.store(true, std::memory_order_release);
  rcu::barrier();
  // barrier() returned: the grace period is over, so the reader has left.
  EXPECT_TRUE(freed.load());
  EXPECT_TRUE(leaving.load());
  reader.join();
  EXPECT_FALSE(freed_while_inside.load()) << "freed while a reader that predates retire was inside";
  EXPECT_TRUE(reader_had_left_when_freed.load());
}

TEST_F(ImplRcu, ReaderOnAnotherThreadHoldsUpTheFree) { ReaderHoldsUpFreeing(false); }

TEST_F(ImplRcu, NestedReaderIsStillInsideAfterItsInnerGuardEnds) { ReaderHoldsUpFreeing(true); }

TEST_F(ImplRcu, ReclaimFromAnotherThreadAlsoWaitsForTheReader) {
  // Same handshake with reclaim() on a third thread, the main thread being
  // the reader: the free must come after the reader leaves.
  std::atomic<bool> retired{false}, leaving{false}, freed{false};
  std::atomic<bool> reader_had_left_when_freed{false};
  bool freed_while_inside = true;
  std::thread writer;
  {
    rcu::ReadGuard g;
    writer = std::thread([&] {
      rcu::retire([&] {
        reader_had_left_when_freed.store(leaving.load(std::memory_order_acquire));
        freed.store(true, std::memory_order_release);
      });
      retired.store(true, std::memory_order_release);
      rcu::reclaim(0);
    });
    while (!retired.load(std::memory_order_acquire)) std::this_thread::yield();
    for (int k = 0; k < 1000; ++k) std::this_thread::yield();
    freed_while_inside = freed.load(std::memory_order_acquire);
    leaving.store(true, std::memory_order_release);
  }
  writer.join();
  EXPECT_FALSE(freed_while_inside);
  EXPECT_TRUE(freed.load());
  EXPECT_TRUE(reader_had_left_when_freed.load());
}

}  // namespace
}  // namespace mmv::impl::test
