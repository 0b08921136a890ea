// The zap stress workload's address space and command mix (SPEC.md sections
// 3 and 5): six VMAs far apart, and the commands threads run on them. Shared
// by the workload (stress/workload.cc), its sequential specification
// (stress/zap_spec.h) and the test that holds that specification to the
// model (stress/zap_spec_test.cc).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "testing/command.h"

namespace mmv::stress {

// Six VMAs, 64 MiB apart at fixed addresses, so that none merges, shares a
// page table or is reached by another's fault-around: the model treats them
// independently and the history may be checked per VMA (P-compositionality).
// kFile is a shared file mapping; kPrivateFile a private one (writes go to
// copies that a zap or munmap throws away; the kernel oracle's concurrent
// workload maps one, model/oracle/concurrent_oracle.h).
enum class ZapKind { kAnon, kFile, kDriver, kPrivateFile };
const char* zap_kind_name(ZapKind k);  // "anonymous", "shared file", ...
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

// VMAs whose commands also change their protection, unmap them and map
// them again: one of each kind an mmap alone brings back, in the same
// layout. The concurrent kernel oracle runs them on the host kernel
// (model/oracle/concurrent_oracle.h).
inline constexpr ZapVma kRemapVmas[] = {
    {kZapBase + 0 * kZapStride, 8, ZapKind::kAnon, 0, 0},
    {kZapBase + 1 * kZapStride, 8, ZapKind::kFile, 0, 0},
    {kZapBase + 2 * kZapStride, 4, ZapKind::kPrivateFile, 16, 0},
};
inline constexpr int kNumRemapVmas = sizeof(kRemapVmas) / sizeof(kRemapVmas[0]);

// The mmaps and page allocations every run starts with.
std::vector<cmd::Command> zap_setup();

// The mmap of `v`'s whole range (read-write, MAP_FIXED_NOREPLACE) that sets
// it up; for kDriver it also needs the page slots zap_setup allocates.
cmd::Command map_command(const ZapVma& v);

// The next commands of a thread on `v`, one of kRemapVmas: a one-byte read
// or write (at a few offsets, so reads meet writes), a zap of a few pages,
// an mprotect of the whole VMA (often a downgrade), or an munmap of the
// whole VMA followed by the mmap that maps it again (two commands, run in
// that order).
std::vector<cmd::Command> remap_commands(const ZapVma& v, std::mt19937_64& rng);

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
// The index in `vmas` of the VMA `c` works on (an mmap: the one it maps),
// or -1.
template <std::size_t N>
int vma_index(const ZapVma (&vmas)[N], const cmd::Command& c) {
  const Addr a = c.op == cmd::Op::kMmap ? c.mmap.addr : c.addr;
  for (std::size_t i = 0; i < N; ++i)
    if (a >= vmas[i].start && a < vmas[i].end()) return static_cast<int>(i);
  return -1;
}

// How a history records a command that returned `outcome`: a command that
// works page by page and did its work over more than one page becomes one
// command per page it touches, each with the outcome that page's part
// answers (the whole command's, but "ok <page>" for an mmap), to be given
// the whole command's call and return times; anything else stays one
// command. Those that split:
//  - a zap that answered "zapped";
//  - an mprotect, munmap or MAP_FIXED_NOREPLACE mmap that answered "ok".
// None of them is atomic, here as in Linux: each clears or changes the
// PTEs one by one under the page-table lock but flushes the TLBs once, at
// the end, so until it returns another CPU may still load or store through
// a stale entry for a page it has already changed (impl/tlb.h), after a
// third CPU faulted on a later page and found it changed. Each page's
// change takes effect at some point within the call; the pages need not
// agree on that point. (An mmap changes no PTE, but splitting it only
// allows more orders, and keeps a re-mapped range page-sized on the
// reference model, like the munmap before it.)
std::vector<std::pair<cmd::Command, std::string>> page_pieces(const cmd::Command& c, const std::string& outcome);

// Appends `op`, an operation as a thread recorded it (input, outcome, call
// and return times), to `history` as the checker is to see it: as its
// page_pieces, each with op's client and times.
template <class Operation>
void append_recorded(std::vector<Operation>& history, const Operation& op) {
  for (auto& [piece, outcome] : page_pieces(op.input, op.output)) {
    history.push_back(op);
    history.back().input = std::move(piece);
    history.back().output = std::move(outcome);
  }
}

// Whether `o`, a load or store that faulted or a zap that found no VMA,
// overlaps in time an munmap `u` of its page (both one page or less, as
// page_pieces records them). Linux's munmap is not one change per page:
// it takes the VMAs out of the tree under the mmap write lock, downgrades
// that to a read lock, and only then zaps the page tables. In between, a
// madvise finds no VMA there and so does a page fault (SIGSEGV), while a
// load or store that the PTE allows as it is still goes through: the
// concurrent kernel oracle found both (docs/oracle.md). Neither ZapSpec nor
// the reference model has that window (their munmap is one change per
// page), so a check leaves such an outcome out of the history
// (stress::check_remap): it changed nothing, and no specification here can
// say when it may happen.
template <class Operation>
bool observes_munmap_window(const Operation& o) {
  return ((o.input.op == cmd::Op::kRead || o.input.op == cmd::Op::kWrite) && o.output == "error SIGSEGV") ||
         ((o.input.op == cmd::Op::kZap || o.input.op == cmd::Op::kZapUnderVmaLock) && o.output == "error NO_VMA");
}
template <class Operation>
bool in_munmap_window(const Operation& o, const Operation& u) {
  if (!observes_munmap_window(o) || u.input.op != cmd::Op::kMunmap) return false;
  const Addr page = (o.input.op == cmd::Op::kRead || o.input.op == cmd::Op::kWrite ? o.input.addr : o.input.addr2) / kPageSize;
  // An munmap of unknown outcome may still be running.
  return u.input.addr / kPageSize == page && u.call < o.ret && (!u.responded || o.call < u.ret);
}

}  // namespace mmv::stress
