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
//
// A second table, of sizes (count_sizes), has one cell per operation and
// internal size or boundary it went past in one command:
//  - across-2M / across-1G: the command's range held an area on both sides
//    of a 2 MiB (PTE table) or 1 GiB (PMD table) boundary, and it succeeded
//    (an mmap: the area it made does);
//  - over-batch / over-table: a populate faulted in more pages than one
//    gather batch (impl::MmuGather::kBatch) / one PTE table (512);
//  - batch+tlb: a zap or munmap cleared more than one gather batch of
//    pages while a CPU's TLB held a translation of a page the gather takes
//    after its first batch (read from the impl: ImplRunner::tlb_pages);
//  - tlb-evict: a load or store filled its CPU's TLB in a slot that held
//    another page's translation (impl::Tlbs: direct-mapped, kEntries).
// The same rule applies: every possible cell must be hit at the CI budget.
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

// The sizes and boundaries of the second table.
enum class Size : std::uint8_t { kAcross2M, kAcross1G, kOverBatch, kOverTable, kBatchTlb, kTlbEvict };
inline constexpr int kNumSizes = static_cast<int>(Size::kTlbEvict) + 1;
const char* size_name(Size s);
bool possible(cmd::Op op, Size s);

// What each CPU's TLB held before a command: per CPU, the pages
// (ImplRunner::tlb_pages()).
using TlbView = std::vector<std::vector<Addr>>;

// The pages a zap or munmap of [lo, hi) in `s` gathers after its first
// full batch: those whose mapping it clears after the first mid-walk flush
// (the order of impl/zap.cc: address order, one entry per page of a folio,
// one per whole THP leaf, none for the zero page). Empty if it gathers no
// more than one batch.
std::vector<Addr> pages_past_first_batch(const model::System& s, Addr lo, Addr hi);

class Reach {
 public:
  // Counts the cells `c` hits in `before`, the model's state before it ran.
  void count(const cmd::Command& c, const model::System& before);
  // Counts the size cells `c` reached: `before` and `after` are the
  // model's states, `out` its outcome, `tlb` the impl's TLBs before it.
  void count_sizes(const cmd::Command& c, const model::System& before, const model::System& after,
                   const std::string& out, const TlbView& tlb);
  std::uint64_t at(cmd::Op op, Size s) const;
  std::uint64_t at(cmd::Op op, Hit hit, Met met) const;
  // The possible cells with a count of 0, as "op/hit/state".
  std::vector<std::string> missing() const;
  int possible_cells() const;
  // One line per operation, then the missing cells.
  std::string table() const;

 private:
  std::array<std::array<std::array<std::uint64_t, kNumMets>, kNumHits>, cmd::kNumOps> n_{};
  std::array<std::array<std::uint64_t, kNumSizes>, cmd::kNumOps> sizes_{};
};

}  // namespace mmv::props
