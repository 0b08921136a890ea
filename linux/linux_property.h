// The model-vs-linux state machine as a RapidCheck property body: random
// sequences of the VMA commands (props::gen_vma_command) run on the model
// and on Linux's own mm/vma.c (LinuxRunner); after every command both
// answered the same, mm/vma.c raised no warning, and the VMA lists are
// equal. Used by linux_test and by each planted bug's test.
#pragma once

#include <cstdint>
#include <string>

namespace mmv::linux_side {

// The CI budget, in one place (linux_test's default; each planted bug must
// be found within it).
inline constexpr const char* kLinuxParams = "seed=20261207 max_success=1000 max_size=200";

// Call inside a RapidCheck property (it uses RC_PRE/RC_FAIL).
void model_vs_linux_case();

// What the runs since the last reset did (for the summary line and for the
// check that they reached the cases mm/vma.c is about).
struct Tally {
  std::uint64_t cases = 0, commands = 0;
  std::uint64_t mmap_ok = 0, mmap_merged = 0;      // a new range joined a neighbour
  std::uint64_t splits = 0, merges = 0;            // mprotect/munmap: VMAs added, removed
  std::uint64_t anon_vma_new = 0, anon_vma_shared = 0;  // a store gave a VMA its anon_vma
  std::uint64_t errors = 0;                        // mmap/munmap/mprotect refused
  int shortest_failure = 0;                        // commands of the shortest failing case
};
Tally tally();
void reset_tally();
std::string describe(const Tally& t);

}  // namespace mmv::linux_side
