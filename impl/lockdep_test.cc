// lockdep (impl/lockdep.h): the run-time lock-order checker. A capturing
// report handler replaces the default (print and abort) for each test, so a
// violation becomes a string the test can look at:
//
//   writeback -> mmap -> vma -> file_mappings -> page_table_lock -> pmd ->
//   pte -> page_cache -> work_queue
//
// Taking a lock of a class left of one already held is an inversion; two
// locks of one class (VMA excepted) nested, or the same lock twice, are
// reported too. Try-locks cannot wait, so they are recorded but not checked.
//
// Where a violation would really deadlock on a std::mutex (a recursive
// acquire, an unlock of an unheld lock) the tests call lockdep::acquire /
// release directly with a stand-in address instead of locking anything.
//
// lockdep is compiled in unless MMV_LOCKDEP is 0 (the release preset); then
// only the last test, that every call is a no-op, is built.

#include "impl/lockdep.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "impl/mmap_lock.h"
#include "impl/mutex.h"
#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

using lockdep::LockClass;

#if MMV_LOCKDEP

// Reports can come from the Kernel's worker thread too (mmput_async), so
// the capture is locked. A std::mutex: an impl Mutex would report into
// itself.
std::mutex g_reports_mu;
std::vector<std::string> g_reports;

void CaptureReport(const std::string& report) {
  std::lock_guard<std::mutex> g(g_reports_mu);
  g_reports.push_back(report);
}

class ImplLockdep : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(lockdep::held_count(), 0);
    {
      std::lock_guard<std::mutex> g(g_reports_mu);
      g_reports.clear();
    }
    old_ = lockdep::set_report_handler(&CaptureReport);
  }
  void TearDown() override {
    lockdep::set_report_handler(old_);
    // A test that leaves a lock recorded would poison every later test on
    // this thread.
    EXPECT_EQ(lockdep::held_count(), 0);
  }

  static std::vector<std::string> Reports() {
    std::lock_guard<std::mutex> g(g_reports_mu);
    return g_reports;
  }
  static std::string AllReports() {
    std::string all;
    for (const auto& r : Reports()) all += "  " + r + "\n";
    return all;
  }
  // Exactly one report, naming every one of `words`.
  static ::testing::AssertionResult OneReportNaming(std::vector<std::string> words) {
    const auto reports = Reports();
    if (reports.size() != 1)
      return ::testing::AssertionFailure() << "expected 1 report, got " << reports.size()
                                           << ":\n" << AllReports();
    for (const auto& w : words) {
      if (reports[0].find(w) == std::string::npos)
        return ::testing::AssertionFailure() << "report lacks \"" << w << "\": " << reports[0];
    }
    return ::testing::AssertionSuccess();
  }

 private:
  lockdep::ReportHandler old_ = nullptr;
};

std::string Name(LockClass c) { return lockdep::class_name(c); }

// ---- Orders that are allowed ----------------------------------------------

TEST_F(ImplLockdep, MmapThenPmdThenPteIsSilent) {
  MmapLock mmap;
  Mutex pmd(LockClass::kPmd);
  Mutex pte(LockClass::kPte);
  mmap.lock_shared();
  pmd.lock();
  pte.lock();
  EXPECT_EQ(lockdep::held_count(), 3);
  pte.unlock();
  pmd.unlock();
  mmap.unlock_shared();
  EXPECT_EQ(lockdep::held_count(), 0);
  EXPECT_TRUE(Reports().empty()) << AllReports();
}

TEST_F(ImplLockdep, TheWholeDocumentedOrderIsSilent) {
  // One lock of every class, in the order the header documents: if a rank
  // were out of place, some step here would be called an inversion.
  const LockClass order[] = {LockClass::kWriteback,     LockClass::kMmap, LockClass::kVma,
                             LockClass::kFileMappings,  LockClass::kPageTableLock,
                             LockClass::kPmd,           LockClass::kPte,  LockClass::kPageCache,
                             LockClass::kWorkQueue};
  int stand_in[9] = {};
  for (int k = 0; k < 9; ++k) lockdep::acquire(order[k], &stand_in[k]);
  EXPECT_EQ(lockdep::held_count(), 9);
  for (int k = 8; k >= 0; --k) lockdep::release(order[k], &stand_in[k]);
  EXPECT_TRUE(Reports().empty()) << AllReports();
}

TEST_F(ImplLockdep, TwoVmaLocksMayNest) {
  int a = 0, b = 0;
  lockdep::acquire(LockClass::kVma, &a);
  lockdep::acquire(LockClass::kVma, &b);
  lockdep::release(LockClass::kVma, &b);
  lockdep::release(LockClass::kVma, &a);
  EXPECT_TRUE(Reports().empty()) << AllReports();
}

TEST_F(ImplLockdep, ReleaseOutOfOrderIsSilentAndTracked) {
  // Hand-over-hand: drop the outer lock while keeping the inner one.
  Mutex pmd(LockClass::kPmd);
  Mutex pte(LockClass::kPte);
  pmd.lock();
  pte.lock();
  pmd.unlock();
  EXPECT_EQ(lockdep::held_count(), 1);
  pte.unlock();
  EXPECT_EQ(lockdep::held_count(), 0);
  EXPECT_TRUE(Reports().empty()) << AllReports();
}

// ---- Violations -------------------------------------------------------------

TEST_F(ImplLockdep, MmapLockUnderPteLockIsAnInversion) {
  Mutex pte(LockClass::kPte);
  MmapLock mmap;
  pte.lock();
  mmap.lock_shared();
  EXPECT_TRUE(OneReportNaming({"inversion", Name(LockClass::kMmap), Name(LockClass::kPte)}));
  mmap.unlock_shared();
  pte.unlock();
}

TEST_F(ImplLockdep, PmdLockUnderPteLockIsAnInversion) {
  Mutex pte(LockClass::kPte);
  Mutex pmd(LockClass::kPmd);
  pte.lock();
  pmd.lock();
  EXPECT_TRUE(OneReportNaming({"inversion", Name(LockClass::kPmd), Name(LockClass::kPte)}));
  pmd.unlock();
  pte.unlock();
}

TEST_F(ImplLockdep, TwoPteLocksNestedAreReported) {
  // Two PTLs taken in address order on one thread and in the other order on
  // another would deadlock; the kernel never holds two.
  Mutex a(LockClass::kPte);
  Mutex b(LockClass::kPte);
  a.lock();
  b.lock();
  EXPECT_TRUE(OneReportNaming({"two", Name(LockClass::kPte)}));
  b.unlock();
  a.unlock();
}

TEST_F(ImplLockdep, RecursiveAcquireIsReported) {
  int lock = 0;
  lockdep::acquire(LockClass::kPmd, &lock);
  lockdep::acquire(LockClass::kPmd, &lock);
  EXPECT_TRUE(OneReportNaming({"recursive", Name(LockClass::kPmd)}));
  EXPECT_EQ(lockdep::held_count(), 2);
  lockdep::release(LockClass::kPmd, &lock);
  lockdep::release(LockClass::kPmd, &lock);
}

TEST_F(ImplLockdep, ReleaseOfAnUnheldLockIsReported) {
  int held = 0, other = 0;
  lockdep::acquire(LockClass::kPte, &held);
  lockdep::release(LockClass::kPte, &other);
  EXPECT_TRUE(OneReportNaming({"does not hold", Name(LockClass::kPte)}));
  // The bogus release must not have dropped the lock that is held.
  EXPECT_EQ(lockdep::held_count(), 1);
  lockdep::release(LockClass::kPte, &held);
  EXPECT_EQ(lockdep::held_count(), 0);
}

TEST_F(ImplLockdep, ReleaseWithTheWrongClassIsReported) {
  int lock = 0;
  lockdep::acquire(LockClass::kPmd, &lock);
  lockdep::release(LockClass::kPte, &lock);
  EXPECT_TRUE(OneReportNaming({"does not hold", Name(LockClass::kPte)}));
  EXPECT_EQ(lockdep::held_count(), 1);
  lockdep::release(LockClass::kPmd, &lock);
}

// ---- Try-locks --------------------------------------------------------------

TEST_F(ImplLockdep, TryLocksAreRecordedButNotOrderChecked) {
  Mutex pte(LockClass::kPte);
  Mutex pte2(LockClass::kPte);
  MmapLock mmap;
  pte.lock();
  // Both would be violations as blocking acquires; a try-lock cannot wait.
  // (Nobody else holds them, so both succeed.)
  if (mmap.try_lock_shared()) {
    if (pte2.try_lock()) {
      EXPECT_EQ(lockdep::held_count(), 3);
      pte2.unlock();
    } else {
      ADD_FAILURE() << "try_lock of a free Mutex failed";
    }
    mmap.unlock_shared();
  } else {
    ADD_FAILURE() << "try_lock_shared of a free MmapLock failed";
  }
  pte.unlock();
  EXPECT_TRUE(Reports().empty()) << AllReports();
}

TEST_F(ImplLockdep, ALockTakenByTryLockStillOrdersLaterAcquires) {
  // Recorded means checked against: a blocking acquire after it is judged
  // with the try-locked lock among those held.
  Mutex pte(LockClass::kPte);
  Mutex pmd(LockClass::kPmd);
  if (!pte.try_lock()) {
    ADD_FAILURE() << "try_lock of a free Mutex failed";
    return;
  }
  pmd.lock();
  EXPECT_TRUE(OneReportNaming({"inversion", Name(LockClass::kPmd), Name(LockClass::kPte)}));
  pmd.unlock();
  pte.unlock();
}

TEST_F(ImplLockdep, HeldCountIsPerThread) {
  Mutex pmd(LockClass::kPmd);
  pmd.lock();
  int other_thread_count = -1;
  std::thread([&] { other_thread_count = lockdep::held_count(); }).join();
  EXPECT_EQ(other_thread_count, 0);
  EXPECT_EQ(lockdep::held_count(), 1);
  pmd.unlock();
}

// ---- The implementation itself ---------------------------------------------

TEST_F(ImplLockdep, RealOperationsTakeLocksInOrder) {
  // Every lock impl/ takes on these paths goes through lockdep: faults
  // (4 KiB and THP), fault-around, COW, zap with a THP split, writeback's
  // mkclean, mprotect, munmap with table freeing, vm_insert_page, and both
  // teardowns (inline and on the worker thread).
  {
    Twin t;
    const FileId f = t.create_file(MarkedPages(32));
    const Addr thp = t.map(AnonAt(kLo, 2 * kPmdSize, kRW, flags::kHugePage));
    const Addr anon = t.map(AnonAt(kLo + 4 * kPmdSize, 8 * kP));
    const Addr shared = t.map(FileAt(f, 0, kLo + 6 * kPmdSize, 32 * kP, /*shared=*/true));
    const Addr priv = t.map(FileAt(f, 4, kLo + 8 * kPmdSize, 8 * kP, /*shared=*/false));
    EXPECT_TRUE(IsOk(t.write(thp + 3 * kP, 1)));
    EXPECT_TRUE(IsOk(t.read(thp + kPmdSize)));
    EXPECT_TRUE(IsOk(t.read(anon)));
    EXPECT_TRUE(IsOk(t.write(anon, 2)));
    EXPECT_TRUE(IsOk(t.read(shared + 5 * kP)));
    EXPECT_TRUE(IsOk(t.write(shared + 6 * kP, 3)));
    EXPECT_TRUE(IsOk(t.read(priv + kP)));
    EXPECT_TRUE(IsOk(t.write(priv + kP, 4)));
    EXPECT_TRUE(Zapped(t.zap(thp, thp + 8 * kP, 4 * kP)));  // splits the THP
    EXPECT_TRUE(Zapped(t.zap(shared, shared, 32 * kP)));
    EXPECT_TRUE(IsOk(t.write(shared + 7 * kP, 5)));
    EXPECT_TRUE(IsOk(t.writeback(f)));
    EXPECT_TRUE(IsOk(t.mprotect(anon, 4 * kP, kR)));
    auto page = t.alloc_page();
    ASSERT_TRUE(IsOk(page));
    const Addr drv = t.map(DriverAt(kLo + 10 * kPmdSize, 4 * kP));
    EXPECT_TRUE(IsOk(t.vm_insert_page(drv, drv + kP, page.value())));
    EXPECT_TRUE(IsOk(t.put_page(page.value())));  // the mapping keeps it alive
    EXPECT_TRUE(IsOk(t.munmap(thp, kPmdSize + 2 * kP)));
    EXPECT_TRUE(IsOk(t.munmap(anon, 8 * kP)));
    t.ExpectSameState();
    EXPECT_EQ(lockdep::held_count(), 0);

    // A second address space torn down by the worker thread.
    auto other = t.kernel.mm_alloc(kLo, kHi);
    ASSERT_TRUE(IsOk(other->mmap(AnonAt(kLo, kPmdSize, kRW, flags::kHugePage))));
    EXPECT_TRUE(IsOk(other->write(kLo + kP, 9)));
    other.into_raw()->mmput_async();
    t.kernel.drain_work();

    t.mmput();  // exit_mmap with file, driver and anonymous memory left
  }
  EXPECT_EQ(lockdep::held_count(), 0);
  EXPECT_TRUE(Reports().empty()) << AllReports();
}

#else  // !MMV_LOCKDEP

TEST(ImplLockdep, CompiledOutEveryCallIsANoOp) {
  int lock = 0;
  lockdep::acquire(LockClass::kPte, &lock);
  lockdep::acquire(LockClass::kPte, &lock);
  EXPECT_EQ(lockdep::held_count(), 0);
  lockdep::release(LockClass::kPmd, &lock);
  EXPECT_EQ(lockdep::held_count(), 0);
}

#endif  // MMV_LOCKDEP

TEST(ImplLockdepNames, EveryClassHasItsOwnName) {
  const LockClass all[] = {LockClass::kWriteback,     LockClass::kMmap, LockClass::kVma,
                           LockClass::kFileMappings,  LockClass::kPageTableLock,
                           LockClass::kPmd,           LockClass::kPte,  LockClass::kPageCache,
                           LockClass::kWorkQueue};
  std::vector<std::string> seen;
  for (LockClass c : all) {
    const std::string n = lockdep::class_name(c);
    EXPECT_NE(n, "?");
    for (const auto& s : seen) EXPECT_NE(n, s);
    seen.push_back(n);
  }
}

}  // namespace
}  // namespace mmv::impl::test
