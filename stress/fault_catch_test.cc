// Proof that the stress suites can fail: each concurrency fault of the fault
// switch (impl/fault_switch.h) is switched on in a child `stress_runner`
// (stress/child_run.h), and the test passes only if the child's run was
// caught in one of the ways listed for that fault.
//
// A fault can be caught by the workload's own verdict, or first by a
// sanitizer that ends the process (halt_on_error) before the verdict looks:
// ThreadSanitizer sees the race, AddressSanitizer the use after free. In a
// build without sanitizers a use after free may instead crash the process.
// Each of these is a catch a user would see; which one comes first depends
// on the build and the interleaving. So each fault lists the endings it may
// legitimately have, the test accepts any of them, and it fails when the
// child comes back clean on every seed tried, or ends in a way not listed
// (that would be a different bug, or a wrong idea of this one).
//
// The children run with MALLOC_PERTURB_ set, so that glibc fills freed
// memory: a use after free in a build without ASan then reads garbage and
// crashes, instead of using stale contents that happen to still work (or
// locking a mutex in reused memory, which hangs).
//
// Every attempt prints the shell line that replays it.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "impl/fault_switch.h"
#include "impl/sanitizers.h"
#include "stress/child_run.h"

#ifndef MMV_STRESS_RUNNER
#error "MMV_STRESS_RUNNER (the path of stress_runner) is set by stress/CMakeLists.txt"
#endif

namespace mmv::stress {
namespace {

#if MMV_FAULTS

struct FaultCase {
  impl::Fault fault;
  const char* workload;  // stress_runner --test=
  int ops;               // per thread
  std::vector<Ending> catches;
  int attempts;          // seeds tried before "went uncaught"
};

ChildRun Attempt(const FaultCase& fc, int seed) {
  ChildRun run;
  run.argv = {MMV_STRESS_RUNNER, std::string("--test=") + fc.workload, "--threads=4",
              "--seed=" + std::to_string(seed), "--seconds=2", "--ops=" + std::to_string(fc.ops)};
  run.env = {{"MMV_FAULT", impl::fault_name(fc.fault)}, {"MALLOC_PERTURB_", "165"}};
  run.timeout = std::chrono::seconds(60);
  return run;
}

bool Listed(const FaultCase& fc, Ending e) {
  return std::find(fc.catches.begin(), fc.catches.end(), e) != fc.catches.end();
}

std::string Tail(const std::string& s, std::size_t n = 3000) {
  return s.size() <= n ? s : "[...]\n" + s.substr(s.size() - n);
}

// Passes when an attempt is caught in a listed way; fails ("went uncaught")
// when every attempt comes back clean, and at once on an unlisted ending.
void ExpectCaught(const FaultCase& fc) {
  for (int i = 0; i < fc.attempts; ++i) {
    const ChildRun run = Attempt(fc, 1000 + i);
    const ChildResult r = run_child(run);
    if (r.ending == Ending::kClean) continue;
    if (Listed(fc, r.ending)) {
      std::cout << impl::fault_name(fc.fault) << " caught by " << ending_name(r.ending) << " at attempt " << i
                << " (" << r.seconds << " s): " << r.evidence << "\n  replay: " << shell_line(run) << "\n";
      return;
    }
    ADD_FAILURE() << impl::fault_name(fc.fault) << ": attempt " << i << " ended as " << ending_name(r.ending)
                  << ", which is not a way this fault is expected to be caught (" << r.evidence
                  << ")\n  replay: " << shell_line(run) << "\n" << Tail(r.output);
    return;
  }
  ADD_FAILURE() << impl::fault_name(fc.fault) << " went uncaught: " << fc.attempts << " seeds of `"
                << fc.workload << "` came back clean\n  last: " << shell_line(Attempt(fc, 1000 + fc.attempts - 1));
}

// A use after free: the verdict, or whichever sanitizer or crash comes first.
const std::vector<Ending> kUseAfterFree = {Ending::kVerdict, Ending::kTsan, Ending::kAsan, Ending::kCrash};
// A data race on a VMA field: the verdict (a reader saw the change) or TSan.
const std::vector<Ending> kRace = {Ending::kVerdict, Ending::kTsan};

// Under OS threads. The faults whose window OS threads almost never open
// are found by the controlled scheduler instead (stress/sched_catch_test.cc,
// whose cases are stress/concurrency_faults.cc).

// mmget_not_zero as a load and a separate store: a lost increment lets the
// mm be torn down and freed under a user that still holds it. Enough
// operations that the threads overlap even on a loaded machine (300 were
// over in 3 ms, and a run of the TSan repeat gate found all 20 seeds clean).
// The exact, deterministic catch is the scheduler's (stress/sched_catch_test.cc).
const FaultCase kMmgetNotZeroRacy{impl::Fault::kMmgetNotZeroRacy, "refcount", 20000, kUseAfterFree, 20};
// mprotect without vma_start_write: a reader's VMA changes under it.
const FaultCase kVmaChangedWithoutWriteLock{impl::Fault::kVmaChangedWithoutWriteLock, "vmalock", 5000, kRace, 20};
// The retried fault keeps its VMA lock while it takes the mmap lock:
// lockdep reports the order on the first retry, deadlock or not.
const FaultCase kRetryKeepsVmaLock{impl::Fault::kRetryKeepsVmaLock, "writeback", 300, {Ending::kLockdep}, 3};

TEST(FaultCatch, MmgetNotZeroRacyIsCaughtByRefcountStress) { ExpectCaught(kMmgetNotZeroRacy); }
TEST(FaultCatch, VmaChangedWithoutWriteLockIsCaughtByVmaLockStress) {
  ExpectCaught(kVmaChangedWithoutWriteLock);
}
TEST(FaultCatch, RetryKeepsVmaLockIsCaughtByLockdep) { ExpectCaught(kRetryKeepsVmaLock); }

#if MMV_TSAN
// Two threads exiting move their cached frames to the shared free list
// without its mutex: a race only TSan can see. Each zap round ends its
// threads, so more operations are more exits; one run of the TSan repeat
// gate found 3 seeds of 100 operations clean.
const FaultCase kFreeListUnlocked{impl::Fault::kFreeListUnlocked, "zap", 2000, {Ending::kTsan}, 10};
TEST(FaultCatch, FreeListUnlockedIsCaughtByTsan) { ExpectCaught(kFreeListUnlocked); }
#endif

// The same children with the fault off come back clean: what the tests
// above count as a catch is the fault's doing, not the workload's.
TEST(FaultCatch, WithoutTheFaultEveryWorkloadComesBackClean) {
  for (const FaultCase* fc : {&kMmgetNotZeroRacy, &kVmaChangedWithoutWriteLock, &kRetryKeepsVmaLock}) {
    FaultCase off = *fc;
    off.fault = impl::Fault::kNone;
    const ChildRun run = Attempt(off, 1000);
    const ChildResult r = run_child(run);
    EXPECT_EQ(r.ending, Ending::kClean) << ending_name(r.ending) << ": " << r.evidence
                                        << "\n  replay: " << shell_line(run) << "\n" << Tail(r.output);
  }
}

// And with the fault off, the expectation itself fails: a fault-catch test
// can fail, and says so as "went uncaught".
const FaultCase kNothingPlanted{impl::Fault::kNone, "refcount", 300, kUseAfterFree, 2};
TEST(FaultCatch, AnUncaughtFaultFailsItsTest) {
  EXPECT_NONFATAL_FAILURE(ExpectCaught(kNothingPlanted), "went uncaught");
}

// An unknown fault name is refused (exit 2), not ignored.
TEST(FaultCatch, AnUnknownFaultNameIsRefused) {
  ChildRun run;
  run.argv = {MMV_STRESS_RUNNER, "--test=refcount", "--threads=1", "--ops=10"};
  run.env = {{"MMV_FAULT", "kNoSuchFault"}};
  const ChildResult r = run_child(run);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("names no fault"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("kMmgetNotZeroRacy"), std::string::npos) << r.output;
}

#endif  // MMV_FAULTS

}  // namespace
}  // namespace mmv::stress
