// Runs a program in a child process and says how it ended: by its own
// verdict, by a sanitizer's report, by a crash, by hanging, or cleanly.
//
// Why a child: a planted use-after-free or data race can be caught by the
// test's verdict, but also by ThreadSanitizer or AddressSanitizer, which end
// the process (halt_on_error / abort_on_error) before any verdict is looked
// at. Run in a child, every one of those endings can be told apart from the
// parent's side and checked, so a fault-catch test is deterministic whatever
// catches the fault first (stress/fault_catch_test.cc).
//
// The child inherits this process's environment (so ctest's TSAN_OPTIONS /
// ASAN_OPTIONS reach it) plus the overrides given; its stdout and stderr are
// captured together.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace mmv::stress {

struct ChildRun {
  std::vector<std::string> argv;  // argv[0] is the program's path
  std::vector<std::pair<std::string, std::string>> env;  // added or replaced
  std::chrono::seconds timeout{60};  // then the child is killed: an Ending::kHang
};

// How a child run ended, most specific first: a sanitizer report wins over
// the exit status it caused.
enum class Ending {
  kClean,    // exit 0 and no report: nothing was caught
  kVerdict,  // exit 1 with the program's own failing verdict ("verdict=FAIL")
  kTsan,     // "WARNING: ThreadSanitizer:" (data race, heap-use-after-free, ...) or "ERROR: ThreadSanitizer:"
  kAsan,     // "ERROR: AddressSanitizer:" or "ERROR: LeakSanitizer:"
  kUbsan,    // "runtime error:" (UndefinedBehaviorSanitizer)
  kCrash,    // killed by a signal with no sanitizer report (SIGSEGV, glibc's abort)
  kHang,     // still running at the timeout; killed
  kLockdep,  // aborted by lockdep's report ("lockdep: ..."): a lock order broken
  kDeadlock, // exit 1 with the controlled scheduler's "deadlock: no thread can run"
  kOther,    // anything else: could not start, usage error, unexpected exit code
};
const char* ending_name(Ending e);

struct ChildResult {
  Ending ending = Ending::kOther;
  int exit_code = -1;    // when it exited
  int signal = 0;        // when a signal ended it
  std::string evidence;  // the line that decided the ending (empty for kClean)
  std::string output;    // stdout and stderr, interleaved as written
  double seconds = 0;
};

ChildResult run_child(const ChildRun& run);

// The run as one shell line (environment first), for replaying by hand.
std::string shell_line(const ChildRun& run);

}  // namespace mmv::stress
