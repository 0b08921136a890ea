// Proof that the stress suites can fail: each concurrency fault
// (impl/fault_switch.h) that a stress verdict can see is switched on, and
// the verdict must come back failing within a few seeds of the default
// configuration. (Faults that only ThreadSanitizer sees are demonstrated
// with MMV_FAULT, see stress/stress_test.cc.)
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <string>

#include "impl/fault_switch.h"
#include "impl/sanitizers.h"
#include "stress/workload.h"


namespace mmv::stress {
namespace {

#if MMV_FAULTS

// Runs `run` with `fault` on for up to `attempts` seeds; the index of the
// first seed whose verdict failed, or -1.
int Caught(impl::Fault fault, int attempts, const std::function<StressReport(const StressConfig&)>& run,
           std::string* explanation) {
  impl::ScopedFault on(fault);
  for (int i = 0; i < attempts; ++i) {
    StressConfig c;
    c.threads = 4;
    c.seed = 1000 + i;
    const StressReport r = run(c);
    if (!r.ok) {
      *explanation = failure_banner(c) + "\n" + r.explanation;
      return i;
    }
  }
  return -1;
}

TEST(FaultCatch, BaselineWithoutFaultPasses) {
  StressConfig c;
  EXPECT_TRUE(run_refcount(c).ok);
}

TEST(FaultCatch, MmgetNotZeroRacyIsCaughtByRefcountStress) {
#if MMV_ASAN
  // A user resurrected from zero later drops the users' mm_count reference a
  // second time and frees the mm under the test's own reference: under ASan
  // that use after free is reported (and aborts the run) before the verdict
  // can look. The verdict catches it in the other builds; ASan catches it
  // here with MMV_FAULT=kMmgetNotZeroRacy stress_test --gtest_filter='RefcountStress.*'.
  GTEST_SKIP() << "caught by ASan itself (a use after free), see the comment";
#endif
  std::string why;
  const int at = Caught(impl::Fault::kMmgetNotZeroRacy, 10, run_refcount, &why);
  EXPECT_GE(at, 0) << "kMmgetNotZeroRacy went unnoticed";
  std::cout << "caught at attempt " << at << ":\n" << why;
}

TEST(FaultCatch, NoRangeRecheckIsCaughtByVmaLockStress) {
  std::string why;
  const int at = Caught(impl::Fault::kNoRangeRecheck, 10,
                        [](const StressConfig& c) { return run_vma_lock(c, true); }, &why);
  EXPECT_GE(at, 0) << "kNoRangeRecheck went unnoticed";
  std::cout << "caught at attempt " << at << ":\n" << why;
}

TEST(FaultCatch, VmaChangedWithoutWriteLockIsCaughtByVmaLockStress) {
#if MMV_TSAN
  // Under TSan this fault is a data race on VmaRef::flags_ that TSan reports
  // (and, with halt_on_error=1, stops the run on) before the verdict can
  // look; demonstrate it with
  //   MMV_FAULT=kVmaChangedWithoutWriteLock stress_test --gtest_filter='VmaLockStress.*'
  GTEST_SKIP() << "caught by TSan itself (a data race report), see the comment";
#endif
  std::string why;
  const int at = Caught(impl::Fault::kVmaChangedWithoutWriteLock, 10,
                        [](const StressConfig& c) { return run_vma_lock(c, true); }, &why);
  EXPECT_GE(at, 0) << "kVmaChangedWithoutWriteLock went unnoticed";
  std::cout << "caught at attempt " << at << ":\n" << why;
}

#endif  // MMV_FAULTS

}  // namespace
}  // namespace mmv::stress
