// The command vocabulary: every operation the model and the implementation
// share, as plain data, written once and used by the RapidCheck properties
// (properties/), the stress tests (stress/) and any fuzzer. Nothing here
// depends on RapidCheck: generators live with their users.
//
// A Command names its targets by value (addresses, lengths) or by slot
// (the k-th file or driver page the run created), never by object, so a
// recorded or shrunk sequence replays on any fresh pair of runners
// (testing/model_runner.h, testing/impl_runner.h). Each runner turns a
// command into an Outcome string ("ok 0x10000000", "error ENOMEM",
// "vma [0x..,0x..) READ|...", ...) so the two sides compare with ==.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "model/addr.h"
#include "model/flags.h"
#include "model/result.h"
#include "model/system.h"

namespace mmv::cmd {

enum class Op : std::uint8_t {
  kMmap,               // mmap(request)
  kMunmap,             // munmap(addr, len)
  kMprotect,           // mprotect(addr, len, prot)
  kRead,               // CPU load at addr
  kWrite,              // CPU store of value at addr
  kZap,                // zap_page_range_single(addr2, len) on the VMA at addr, mmap read lock
  kZapUnderVmaLock,    // the same, on the VMA locked by lock_vma_under_rcu(addr)
  kAllocPage,          // a new pinned driver page -> page slot
  kPutPage,            // put_page(page slot `slot`)
  kInsertPage,         // vm_insert_page(page slot `slot`) at addr2 in the VMA at addr
  kWriteback,          // writeback(file slot `slot`)
  kMmgrab,             // one more mm_count reference held by the runner
  kMmdrop,             // drop one runner-held mm_count reference
  kMmgetNotZero,       // try to take one more mm_users reference
  kMmput,              // drop one runner-held mm_users reference
  kMmputAsync,         // the same, teardown on the worker (runners wait for it)
  kLockVmaUnderRcu,    // lock_vma_under_rcu(addr), falling back to the mmap read lock: which VMA
  kMmapReadTrylock,    // mmap_read_trylock: locked or busy
  kVmaLookup,          // vma_lookup(addr) under the mmap read lock
  kFailNextAllocation, // arm the allocation-failure gate
  kPopulate,           // madvise(addr, len, MADV_POPULATE_WRITE)
};
inline constexpr int kNumOps = static_cast<int>(Op::kPopulate) + 1;

const char* op_name(Op op);

// CPUs a command may name (impl::Tlbs::kCpus).
inline constexpr int kCpus = 4;

struct Command {
  Op op = Op::kRead;
  MmapRequest mmap;        // kMmap
  Addr addr = 0;           // target address / the VMA's address
  Addr addr2 = 0;          // zap start / insert address
  std::uint64_t len = 0;   // munmap/mprotect/populate length, zap size
  VmFlags prot = 0;        // kMprotect
  std::uint8_t value = 0;  // kWrite
  std::uint32_t slot = 0;  // file slot (kWriteback) or page slot
  // kRead, kWrite: the CPU making the access (impl's software TLBs,
  // impl/tlb.h; the model has none and ignores it).
  std::uint8_t cpu = 0;

  friend bool operator==(const Command&, const Command&) = default;
};

// The command as one line of text; testing/command_text.h reads it back.
std::string to_string(const Command& c);
std::ostream& operator<<(std::ostream& os, const Command& c);

// What a runner holds besides the address space itself; both runners keep
// identical copies, so a command's precondition reads the same on both.
struct Holdings {
  int users = 1;  // runner-held mm_users references
  int grabs = 0;  // runner-held mm_count references beyond the observer's
  std::vector<FolioId> pages;  // page slots: driver pages allocated so far
  std::vector<bool> pinned;    // whether the runner still holds that pin

  friend bool operator==(const Holdings&, const Holdings&) = default;
};

// Whether `c` may run now. Commands that would need a reference the runner
// does not hold (a put without a user, a put_page of a page already put)
// are not misuse tests -- those are unit tests -- so they are skipped.
bool precondition(const Command& c, const Holdings& h);
// Updates `h` for a command that ran with outcome `out`.
void account(const Command& c, const std::string& out, Holdings& h);

// The files every runner creates first, in this order (file slots 0, 1).
struct FileSpec {
  std::uint64_t pages;
  std::uint8_t tag;  // page i is testing::Marked(tag + i) (testing/marked_pages.h)
  bool warm;
};
inline constexpr FileSpec kFiles[] = {{20, 1, true}, {6, 100, false}};
std::vector<PageBytes> file_contents(const FileSpec& f);

// The first-fit window every runner uses (2 MiB aligned, 1 GiB long).
inline constexpr Addr kWindowLo = 0x40000000;
inline constexpr Addr kWindowHi = 0x80000000;

// Outcome strings, identical for identical results.
std::string outcome(const Status& s);
std::string outcome(const Result<Addr>& r);
std::string outcome(const Result<std::uint8_t>& r);
std::string outcome(const Result<ZapOutcome>& r);
std::string outcome_page(const Result<FolioId>& r);  // "ok page N"
std::string outcome_vma(const Vma* v);  // "none" or "vma [start,end) flags ..."

}  // namespace mmv::cmd
