// Generator reach: which cells of (operation x what it hit x state it met)
// the model-vs-impl property actually ran, so that "green" can be read as
// "these paths were checked" and a path the generators never take shows up
// as a hole instead of as silence.
//
// What a command hit is read from the model's state before it ran:
//  - point commands (read, write, vma_lookup, lock_vma_under_rcu, and
//    vm_insert_page at its insert address) hit the entry at their page;
//  - range commands (munmap, mprotect, both zaps, and a MAP_FIXED mmap over
//    its range) hit every kind of entry in their range, each counted once;
//  - the others take no address (hit "-").
// Hits: no-vma, empty (a VMA, nothing mapped there), anon, thp (a PMD leaf),
// zero (the zero page), file-shared, file-private (a page-cache page in a
// private file mapping), file-cow (the private copy of one), driver (a page
// inserted with vm_insert_page).
// States: any (every hit), dirty (a dirty entry; for a driver page that is
// a dirty PTE on a folio that is never dirty), wp (a present entry without
// write permission), partial (a range that covers part of a huge page), and
// teardown (the address space has no users left: every command hits "-").
//
// Not every cell can exist; possible() says which, one rule per reason, and
// the model-vs-impl property fails at its CI budget if a possible cell was
// not reached (properties/stateful_props.cc).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/system.h"
#include "testing/command.h"

namespace mmv::props {

enum class Hit : std::uint8_t {
  kNone, kNoVma, kEmpty, kAnon, kThp, kZero, kFileShared, kFilePrivate, kFileCow, kDriver,
};
inline constexpr int kNumHits = static_cast<int>(Hit::kDriver) + 1;

enum class Met : std::uint8_t { kAny, kDirty, kWriteProtected, kPartial, kTeardown };
inline constexpr int kNumMets = static_cast<int>(Met::kTeardown) + 1;

const char* hit_name(Hit h);
const char* met_name(Met m);

// Every mapped page of `s` grouped by what it is and its state (dirty or
// not, write-protected or not; a huge page by its first page), only the
// non-empty groups: generators aim at rare kinds and states as often as at
// common ones.
std::vector<std::vector<Addr>> mapped_groups(const model::System& s);

// Whether the cell can be reached at all (see reach.cc for the reasons).
bool possible(cmd::Op op, Hit hit, Met met);

class Reach {
 public:
  // Counts the cells `c` hits in `before`, the model's state before it ran.
  void count(const cmd::Command& c, const model::System& before);
  std::uint64_t at(cmd::Op op, Hit hit, Met met) const;
  // The possible cells with a count of 0, as "op/hit/state".
  std::vector<std::string> missing() const;
  int possible_cells() const;
  // One line per operation, then the missing cells.
  std::string table() const;

 private:
  std::array<std::array<std::array<std::uint64_t, kNumMets>, kNumHits>, cmd::kNumOps> n_{};
};

}  // namespace mmv::props
