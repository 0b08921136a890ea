// Address-space lifetime (SPEC.md section 1): mm_users / mm_count,
// exit_mmap on the last mmput, freeing on the last mmdrop, misuse reports.
//
//   mm_users: 1 --mmget_not_zero--> 2 --mmput--> 1 --mmput--> 0 (exit_mmap,
//             then the users' mm_count reference is dropped)
//   mm_count: 1 (the users' share) --mmgrab--> 2 --mmdrop--> 1 ... 0 (freed)

#include <gtest/gtest.h>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

TEST(Lifetime, StartsLiveWithOneUserAndOneCount) {
  System s(kLo, kHi);
  EXPECT_EQ(s.mm_users(), 1u);
  EXPECT_EQ(s.mm_count(), 1u);
  EXPECT_EQ(s.life(), LifeState::kLive);
  EXPECT_TRUE(s.bugs().empty());
}

TEST(Lifetime, GrabAndDrop) {
  System s(kLo, kHi);
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmgrab()));
  EXPECT_EQ(s.mm_count(), 3u);
  EXPECT_EQ(s.mm_users(), 1u);
  ASSERT_TRUE(IsOk(s.mmdrop()));
  ASSERT_TRUE(IsOk(s.mmdrop()));
  EXPECT_EQ(s.mm_count(), 1u);
  EXPECT_EQ(s.life(), LifeState::kLive);
  EXPECT_TRUE(s.bugs().empty());
}

TEST(Lifetime, MmgetNotZeroAndMmputWhileOtherUsersRemain) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  EXPECT_TRUE(s.mmget_not_zero());
  EXPECT_EQ(s.mm_users(), 2u);
  EXPECT_EQ(s.mm_count(), 1u) << "all users share one mm_count reference";
  const System two = s;
  ASSERT_TRUE(IsOk(s.mmput()));
  EXPECT_EQ(s.mm_users(), 1u);
  EXPECT_EQ(s.life(), LifeState::kLive);
  EXPECT_EQ(s.vmas(), two.vmas()) << "not the last user: nothing torn down";
  EXPECT_EQ(s.rss(), (Rss{0, 1}));
  EXPECT_TRUE(s.bugs().empty());
}

// A state with a bit of everything, for teardown:
//   anon (written), shared file (dirty), private file (COW), THP, driver page.
struct Rich {
  System s{kLo, kHi};
  FileId shared_file = 0;
  FileId private_file = 0;
  FolioId driver_page = 0;

  Rich() {
    shared_file = s.create_file(MarkedPages(2, 0x10), System::Cache::kCold);
    private_file = s.create_file(MarkedPages(2, 0x20), System::Cache::kWarm);
    Map(s, AnonAt(kLo, 4 * kP));
    Map(s, FileAt(shared_file, 0, kLo + 8 * kP, 2 * kP, /*shared=*/true));
    Map(s, FileAt(private_file, 0, kLo + 16 * kP, 2 * kP, /*shared=*/false));
    Map(s, AnonAt(kLo + kPmdSize, kPmdSize, kRW, flags::kHugePage));
    Map(s, DriverAt(kLo + 3 * kPmdSize, kP));
    EXPECT_TRUE(IsOk(s.write(kLo + kP, 1)));
    EXPECT_TRUE(IsOk(s.read(kLo + 2 * kP)));
    EXPECT_TRUE(IsOk(s.write(kLo + 8 * kP + 40, 0xd1)));
    EXPECT_TRUE(IsOk(s.read(kLo + 9 * kP)));
    EXPECT_TRUE(IsOk(s.write(kLo + 16 * kP + 40, 0xd2)));
    EXPECT_TRUE(IsOk(s.write(kLo + kPmdSize + 40, 0xd3)));
    auto p = s.alloc_page();
    EXPECT_TRUE(IsOk(p));
    driver_page = p.ok() ? p.value() : 0;
    EXPECT_TRUE(IsOk(s.vm_insert_page(kLo + 3 * kPmdSize, kLo + 3 * kPmdSize,
                                      driver_page)));
    EXPECT_GT(s.rss().anon, 0);
    EXPECT_GT(s.rss().file, 0);
  }
};

void ExpectTornDown(const Rich& r) {
  const System& s = r.s;
  EXPECT_TRUE(s.vmas().empty());
  EXPECT_EQ(s.rss(), Rss{});
  EXPECT_EQ(s.table_counts(), (TableCounts{0, 0, 0}));
  EXPECT_TRUE(s.page_table().ptes.empty());
  EXPECT_TRUE(s.page_table().pmd_leaves.empty());
  // Dirty shared-file data was written back; the cache keeps clean folios.
  EXPECT_EQ(s.disk_page(r.shared_file, 0).get(40), 0xd1);
  for (const auto& [id, f] : s.folios()) {
    EXPECT_NE(f.kind, FolioKind::kAnon) << "anon folio " << id << " survived";
    EXPECT_FALSE(f.dirty) << id;
    if (f.kind == FolioKind::kPageCache) {
      EXPECT_EQ(f.refcount, 1u) << id;
    }
  }
  // The private copy never reaches the file.
  EXPECT_EQ(s.disk_page(r.private_file, 0), MarkedPages(2, 0x20)[0]);
  EXPECT_EQ(s.file_page(r.private_file, 0), MarkedPages(2, 0x20)[0]);
  // The driver page survives on the caller's pin alone.
  const Folio* d = FindFolio(s, r.driver_page);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->refcount, 1u);
  EXPECT_EQ(d->pins, 1u);
  ExpectInvariants(s);
}

TEST(Lifetime, LastMmputTearsDownAndLastMmdropFrees) {
  Rich r;
  ASSERT_TRUE(IsOk(r.s.mmgrab()));  // keep the object after the teardown
  ASSERT_EQ(r.s.mm_count(), 2u);
  ASSERT_TRUE(IsOk(r.s.mmput()));
  EXPECT_EQ(r.s.mm_users(), 0u);
  EXPECT_EQ(r.s.mm_count(), 1u) << "the users' reference was dropped";
  EXPECT_EQ(r.s.life(), LifeState::kTornDown);
  ExpectTornDown(r);
  EXPECT_TRUE(r.s.bugs().empty());

  ASSERT_TRUE(IsOk(r.s.mmdrop()));
  EXPECT_EQ(r.s.mm_count(), 0u);
  EXPECT_EQ(r.s.life(), LifeState::kFreed);
  EXPECT_TRUE(r.s.bugs().empty()) << "check_mm found everything zero";
}

TEST(Lifetime, LastMmputWithoutOtherCountsFreesTheObject) {
  Rich r;
  ASSERT_TRUE(IsOk(r.s.mmput()));
  EXPECT_EQ(r.s.mm_users(), 0u);
  EXPECT_EQ(r.s.mm_count(), 0u);
  EXPECT_EQ(r.s.life(), LifeState::kFreed);
  ExpectTornDown(r);
  EXPECT_TRUE(r.s.bugs().empty());
}

TEST(Lifetime, LastMmputAfterMmgetNotZero) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(s.mmget_not_zero());
  ASSERT_TRUE(IsOk(s.mmput()));
  EXPECT_EQ(s.vmas().size(), 1u);
  ASSERT_TRUE(IsOk(s.mmput()));
  EXPECT_TRUE(s.vmas().empty());
  EXPECT_EQ(s.life(), LifeState::kFreed);
}

TEST(Lifetime, MmputAsyncEqualsMmput) {
  Rich a;
  Rich b;
  ASSERT_EQ(a.s, b.s);
  ASSERT_TRUE(IsOk(a.s.mmgrab()));
  ASSERT_TRUE(IsOk(b.s.mmgrab()));
  ASSERT_TRUE(IsOk(a.s.mmput()));
  ASSERT_TRUE(IsOk(b.s.mmput_async()));
  EXPECT_EQ(a.s, b.s);
  EXPECT_EQ(b.s.life(), LifeState::kTornDown);
  ExpectTornDown(b);
}

TEST(Lifetime, MmgetNotZeroIsEmptyForeverAfterTheLastUser) {
  System s(kLo, kHi);
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmput()));
  ASSERT_EQ(s.life(), LifeState::kTornDown);
  EXPECT_FALSE(s.mmget_not_zero());
  // mm_count holders may come and go; users never come back.
  ASSERT_TRUE(IsOk(s.mmgrab()));
  EXPECT_EQ(s.mm_count(), 2u);
  EXPECT_FALSE(s.mmget_not_zero());
  EXPECT_FALSE(s.mmget_not_zero());
  EXPECT_EQ(s.mm_users(), 0u);
  EXPECT_EQ(s.life(), LifeState::kTornDown);
  EXPECT_TRUE(s.bugs().empty()) << "mmget_not_zero on a dead mm is legitimate";
}

TEST(Lifetime, VmaOperationsAfterTeardownAreNoUser) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmput()));
  EXPECT_TRUE(IsErr(s.mmap(AnonAt(kLo, kP)), Errc::kNoUser));
  EXPECT_TRUE(IsErr(s.mmap(AnonAnywhere(kP)), Errc::kNoUser));
  EXPECT_TRUE(IsErr(s.munmap(kLo, kP), Errc::kNoUser));
  EXPECT_TRUE(IsErr(s.mprotect(kLo, kP, kR), Errc::kNoUser));
  EXPECT_TRUE(s.vmas().empty());
}

// ---- Misuse: reported in bugs(), nothing else changes ------------------------

TEST(LifetimeMisuse, MmdropOfTheUsersShareIsABug) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.write(kLo, 1)));
  const System before = s;
  EXPECT_FALSE(s.mmdrop().ok());
  EXPECT_EQ(s.bugs().size(), before.bugs().size() + 1);
  EXPECT_TRUE(SameExceptDiagnostics(before, s));
  EXPECT_EQ(s.mm_count(), 1u);
  EXPECT_EQ(s.life(), LifeState::kLive);
}

TEST(LifetimeMisuse, ExtraMmdropAfterGrabIsABug) {
  System s(kLo, kHi);
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmdrop()));
  ASSERT_TRUE(s.bugs().empty());
  const System before = s;
  EXPECT_FALSE(s.mmdrop().ok());
  EXPECT_EQ(s.bugs().size(), 1u);
  EXPECT_TRUE(SameExceptDiagnostics(before, s));
}

TEST(LifetimeMisuse, MmdropOfUsersShareWhileTornDownIsFine) {
  // Once torn down the users' share is gone, so the remaining count can drop.
  System s(kLo, kHi);
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmput()));
  EXPECT_TRUE(IsOk(s.mmdrop()));
  EXPECT_EQ(s.life(), LifeState::kFreed);
  EXPECT_TRUE(s.bugs().empty());
}

TEST(LifetimeMisuse, MmputWithNoUsersIsABug) {
  System s(kLo, kHi);
  ASSERT_TRUE(IsOk(s.mmgrab()));
  ASSERT_TRUE(IsOk(s.mmput()));
  const System before = s;
  EXPECT_FALSE(s.mmput().ok());
  EXPECT_FALSE(s.mmput_async().ok());
  EXPECT_EQ(s.bugs().size(), before.bugs().size() + 2);
  EXPECT_TRUE(SameExceptDiagnostics(before, s));
  EXPECT_EQ(s.mm_users(), 0u);
  EXPECT_EQ(s.mm_count(), 1u);
}

TEST(LifetimeMisuse, EveryCallAfterFreeIsABugAndChangesNothing) {
  System s(kLo, kHi);
  Map(s, AnonAt(kLo, kP));
  ASSERT_TRUE(IsOk(s.mmput()));
  ASSERT_EQ(s.life(), LifeState::kFreed);
  ASSERT_TRUE(s.bugs().empty());
  const System before = s;
  std::size_t bugs = 0;
  auto expect_bug = [&](const char* what) {
    ++bugs;
    EXPECT_EQ(s.bugs().size(), bugs) << what << " was not reported";
  };
  EXPECT_TRUE(IsErr(s.mmgrab(), Errc::kFreed));
  expect_bug("mmgrab");
  EXPECT_TRUE(IsErr(s.mmdrop(), Errc::kFreed));
  expect_bug("mmdrop");
  EXPECT_TRUE(IsErr(s.mmput(), Errc::kFreed));
  expect_bug("mmput");
  EXPECT_TRUE(IsErr(s.mmput_async(), Errc::kFreed));
  expect_bug("mmput_async");
  EXPECT_FALSE(s.mmget_not_zero());
  expect_bug("mmget_not_zero");
  EXPECT_TRUE(IsErr(s.mmap(AnonAt(kLo, kP)), Errc::kFreed));
  expect_bug("mmap");
  EXPECT_TRUE(IsErr(s.munmap(kLo, kP), Errc::kFreed));
  expect_bug("munmap");
  EXPECT_TRUE(IsErr(s.mprotect(kLo, kP, kR), Errc::kFreed));
  expect_bug("mprotect");
  EXPECT_TRUE(SameExceptDiagnostics(before, s));
  EXPECT_EQ(s.mm_count(), 0u);
  EXPECT_EQ(s.mm_users(), 0u);
  EXPECT_EQ(s.life(), LifeState::kFreed);
}

}  // namespace
}  // namespace mmv::model::test
