// The concurrent kernel oracle: threads of this process run the commands of
// stress/zap_workload.h's kRemapVmas (reads and writes of single bytes as
// real CPU loads and stores, madvise(MADV_DONTNEED), mprotect of the whole
// VMA, munmap of it and the mmap that maps it again) on the host kernel, at
// the same time, and record when each was called, when it returned and what
// it answered. Each recorded history is checked with lin::check against
// ZapSpec (stress/zap_spec.h), the specification the impl's zap stress
// workload answers to; a history ZapSpec rejects is checked again with the
// reference model (cmd::ModelRunner), which has the last word. So the
// concurrent specifications meet a real kernel: a history the kernel
// produces and the specification rejects is a finding.
//
// A run is a sequence of epochs. Each epoch maps one VMA afresh, alone and
// read-write (its file pages rewritten to their original contents), then
// releases the threads together from a barrier, each pinned to a CPU, to
// run `ops_per_epoch` commands on that VMA; so each epoch's history starts
// from the specification's initial state and is checked on its own, and a
// failing one is small. The VMAs take turns.
//
// Recording: an operation's call time is read before it starts and its
// return time after it has finished (the vDSO clock orders itself after
// earlier loads; a full fence drains a store before the return time is
// read), with CLOCK_MONOTONIC, one clock for every CPU. A load or store
// that faults with SIGSEGV or SIGBUS is caught by this thread's handler and
// recorded as "error SIGSEGV" / "error SIGBUS", as the model answers.
// madvise answering ENOMEM (no VMA in the range: it was unmapped and not yet
// mapped again) is recorded as the Rust zap's "error NO_VMA", which ZapSpec
// and the model give a zap whose VMA is not there.
//
// Thread safety: run_concurrent() starts and joins its own threads, and
// installs and restores the process's SIGSEGV and SIGBUS handlers: call it
// from one thread at a time, with no other code of the process relying on
// those signals meanwhile.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "stress/linearizability.h"
#include "stress/remap_check.h"
#include "stress/zap_workload.h"

namespace mmv::oracle {

// How a recorded history is judged. kExact is the specification; the others
// are deliberately wrong ones, used to show that the kernel's histories can
// reject a specification (concurrent_oracle_test.cc):
//  - kZapAtReturn: a zap takes effect at its return, so a read overlapping a
//    zap of its page must see the old bytes;
//  - kDowngradeAtCall: an mprotect that takes write permission away takes
//    effect at its call, so a write overlapping it must fault.
enum class Strictness { kExact, kZapAtReturn, kDowngradeAtCall };
const char* strictness_name(Strictness s);
std::optional<Strictness> parse_strictness(const std::string& name);

// How often the overlaps the checks are about happened: recorded operations
// (each counted once) whose interval overlaps that of
struct Reach {
  std::uint64_t read_zap = 0;         // a read: a zap of its page
  std::uint64_t write_downgrade = 0;  // a write: an mprotect that removes write from its page
  std::uint64_t access_remap = 0;     // a read or write: an munmap or re-mmap of its page
  Reach& operator+=(const Reach& o);
};
// The reach of one history (in page pieces, as the checker sees it).
Reach reach_of(const std::vector<stress::Operation>& history);

struct ConcurrentConfig {
  int threads = 0;  // 0: the CPUs this process may run on, clamped to [2, 4]
  std::uint64_t seed = 1;
  double seconds = 10;  // how long it runs (checking included), unless max_findings stop it first
  int ops_per_epoch = 64;  // per thread
  bool pin = true;         // each thread on its own CPU (round robin)
  Strictness strictness = Strictness::kExact;
  // Where failing histories go ("" : $MMV_ORACLE_OUT_DIR, else the
  // temporary directory).
  std::string out_dir;
  int max_findings = 3;  // the run stops after this many
};

struct ConcurrentReport {
  std::uint64_t ops = 0;     // commands run (a history records more: page pieces)
  std::uint64_t epochs = 0;
  double seconds = 0;        // running, checks included
  int threads = 0;
  Reach reach;
  std::uint64_t states = 0;  // lin::check search states
  std::string setup_error;   // non-empty: the run could not start
  std::vector<std::string> findings;  // each: what, the files written, how to replay
  std::string summary() const;        // counts and rates, one paragraph
};

ConcurrentReport run_concurrent(const ConcurrentConfig& cfg);

// ---- a recorded history, as a file and as a verdict -------------------------

// One epoch's history on kRemapVmas[vma], as the threads recorded it (whole
// commands, before page_pieces).
struct EpochHistory {
  int vma = 0;
  std::vector<stress::Operation> ops;
};

// The verdict on a history: stress::check_remap's, with the wrong
// specification's effect times where one is asked for (and then ZapSpec's
// alone).
using EpochVerdict = stress::RemapVerdict;
EpochVerdict check_epoch(const EpochHistory& h, Strictness strictness);

// A smaller history that is rejected for the same reason: the commands on
// the page that failed, as they stood at the earliest time the history was
// already rejected (commands still running then have unknown outcomes).
// `h` as it is if check_epoch accepts it.
EpochHistory shrink_epoch(const EpochHistory& h, Strictness strictness);

// The history file: lincheck's EDN lines (lincheck/history_file.h), one
// event per line in time order, the command and the outcome as strings in
// the command vocabulary's text (testing/command_text.h); a command with an
// unknown outcome has no completion. ';' comment lines name the VMA, the
// kernel and how it was found.
void write_history(std::ostream& out, const EpochHistory& h, const std::vector<std::string>& comments);
// nullopt with *error ("line 4: ...") if `in` is not such a file.
std::optional<EpochHistory> read_history(std::istream& in, std::string* error);

}  // namespace mmv::oracle
