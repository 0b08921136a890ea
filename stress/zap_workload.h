// The zap stress workload's address space and command mix (SPEC.md sections
// 3 and 5): six VMAs far apart, and the commands threads run on them. Shared
// by the workload (stress/workload.cc), its sequential specification
// (stress/zap_spec.h) and the test that holds that specification to the
// model (stress/zap_spec_test.cc).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "testing/command.h"

namespace mmv::stress {

// Six VMAs, 64 MiB apart at fixed addresses, so that none merges, shares a
// page table or is reached by another's fault-around: the model treats them
// independently and the history may be checked per VMA (P-compositionality).
enum class ZapKind { kAnon, kFile, kDriver };
struct ZapVma {
  Addr start;
  std::uint64_t pages;
  ZapKind kind;
  std::uint64_t pgoff;      // kFile: the first page of file slot 0 it maps
  std::uint32_t first_slot;  // kDriver: it inserts page slots first_slot, first_slot + 1
  Addr end() const { return start + pages * kPageSize; }
};
inline constexpr Addr kZapBase = 0x40000000;
inline constexpr Addr kZapStride = 64ull << 20;
inline constexpr ZapVma kZapVmas[] = {
    {kZapBase + 0 * kZapStride, 16, ZapKind::kAnon, 0, 0},
    {kZapBase + 1 * kZapStride, 8, ZapKind::kFile, 0, 0},
    {kZapBase + 2 * kZapStride, 8, ZapKind::kDriver, 0, 0},
    {kZapBase + 3 * kZapStride, 16, ZapKind::kAnon, 0, 0},
    {kZapBase + 4 * kZapStride, 8, ZapKind::kFile, 8, 0},
    {kZapBase + 5 * kZapStride, 8, ZapKind::kDriver, 0, 2},
};
inline constexpr int kNumZapVmas = sizeof(kZapVmas) / sizeof(kZapVmas[0]);
inline constexpr std::uint32_t kZapDriverSlots = 4;  // page slots allocated in setup
inline constexpr std::uint64_t kZapMaxPages = 16;

// The mmaps and page allocations every run starts with.
std::vector<cmd::Command> zap_setup();

// The next command of thread t: a read, write, zap (under the mmap lock or
// the VMA lock) or vm_insert_page on one of the VMAs.
cmd::Command zap_command(int t, std::mt19937_64& rng);

// A byte offset within a page that only thread t writes to (in file VMAs
// here, and in the teardown workload): the last value of each such byte is
// its thread's last write under every interleaving, so written-back data is
// deterministic.
std::uint32_t own_offset(int t, std::mt19937_64& rng);

// The index in kZapVmas of the VMA `c` works on.
int zap_vma_of(const cmd::Command& c);

// How a history records a zap that returned `outcome`: a zap that did its
// work ("zapped") over more than one page becomes one zap per page it
// touches, each given the whole zap's call and return times and outcome;
// anything else stays one operation. A zap is not atomic, here as in
// Linux: it clears each PTE under the page-table lock but flushes the TLBs
// once, at the end, so until it returns another CPU may still store through
// a stale entry for a page it has already cleared (impl/tlb.h), after a
// third CPU faulted on a later page and found it gone. Each page's removal
// takes effect at some point within the call; the pages need not agree on
// that point.
std::vector<cmd::Command> zap_pieces(const cmd::Command& zap, const std::string& outcome);

// Appends `op`, an operation as a thread recorded it (input, outcome, call
// and return times), to `history` as the checker is to see it: as its
// zap_pieces, each with op's client, times and outcome.
template <class Operation>
void append_recorded(std::vector<Operation>& history, const Operation& op) {
  for (const cmd::Command& piece : zap_pieces(op.input, op.output)) {
    history.push_back(op);
    history.back().input = piece;
  }
}

}  // namespace mmv::stress
