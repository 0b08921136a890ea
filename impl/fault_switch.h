// A test-only fault switch: deliberate, known bugs that can be switched on
// in the implementation so that a test can prove the properties catch them
// (properties/fault_detection_test.cc). Each Fault names one bug; a hook in
// impl/*.cc, marked "// Test-only fault (impl/fault_switch.h).", takes the
// broken path while fault_active() says so.
//
// Compiled in when MMV_FAULTS is 1 (CMake option MMV_FAULTS, on in every
// build type but Release). Otherwise fault_active() is a constexpr false,
// the hooks are dead code, and there is no switch to set: ScopedFault does
// not exist.
//
// Thread safety: the switch is one process-wide atomic read with relaxed
// loads. Faults are for sequential properties only: some of them (e.g.
// kZapFreesTable) break the rules concurrent callers rely on. Use
// ScopedFault, which restores the previous value when it goes out of scope,
// so a fault cannot leak into other tests.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace mmv::impl {

enum class Fault {
  kNone,
  // zap_range: a dirty PTE does not mark its file folio dirty, so the data
  // written through the mapping never reaches the file. A write fault on a
  // shared file mapping dirties the page-cache folio already (write-notify,
  // impl/fault.cc), which would leave the bug visible only for driver pages
  // (vm_insert_page) -- about one case in 700. So the dirt is forgotten
  // outright: the zap of a dirty PTE leaves its folio clean.
  kZapForgetsDirty,
  // zap_range: a PTE table left empty by the zap is unlinked and freed
  // (zap must keep page tables; SPEC.md section 5).
  kZapFreesTable,
  // split_pmd: the split counts one extra anonymous page in rss.
  kPmdSplitRssLeak,
  // mmget_not_zero: succeeds after the last mmput (a refcount_inc where
  // refcount_inc_not_zero belongs); the returned reference is to a
  // torn-down mm and its mm_users stays 0.
  kMmgetFromZero,
  // VmaRef::zap_page_range_single: address + size > end() is not rejected;
  // the range is cut at end() and zapped, and no rejection is counted.
  kBadZapNotRejected,
  // VmaRef::zap_page_range_single: the end is rounded down instead of up,
  // so a size that ends inside a page leaves that page mapped.
  kZapRoundsEndDown,
  // exit_mmap: dirty file data is not written back at teardown.
  kExitSkipsWriteback,
  // ---- Concurrency faults, for the stress suites (stress/fault_catch_test.cc).
  // mmget_not_zero: the increment-if-not-zero is a load, then a separate
  // store of value + 1 (two scheduling points, no widening yield): an
  // increment can be lost, and a user can come back from zero.
  kMmgetNotZeroRacy,
  // mprotect: the VMA whose flags change is not write-locked first
  // (vma_start_write skipped), so a reader holding its VMA read lock sees
  // the flags change under it (a data race on VmaRef::flags_).
  kVmaChangedWithoutWriteLock,
  // lock_vma_under_rcu: no post-lock re-check that the VMA still contains
  // addr (no widening yield: the window is between the RCU lookup and the
  // lock's scheduling points); a reader can get a VMA that shrank away from
  // its address.
  kNoRangeRecheck,
  // MmuGather::add: the folio reference is put at once, before the TLB
  // flush for the batch. Known NOT to be caught: impl has no TLB that could
  // still reach the page (the PTE is cleared under the PTL before the put),
  // so nothing can observe the early free. Kept as the honest example of a
  // rule the suite cannot check; see the issue 5 closing note.
  kFreeBeforeFlush,
  // Folio::put: the reference is dropped with a load and a separate store
  // of value - 1 (refcount_dec_and_test written as two steps): a concurrent
  // get or put in between is lost, and a folio leaks or is freed while
  // still mapped.
  kFolioPutRacy,
  // Mm::publish_vmas: the new VMA snapshot is made visible to RCU readers
  // before it is filled in (publish before init). Readers may find no VMA,
  // which they survive by falling back to the mmap lock, so only TSan sees
  // it: the entries are written after the release that published them.
  kPublishBeforeInit,
  // MmWithUser::write, retried under the mmap read lock: the guard's scope
  // ends one line early, and the access uses the VmaRef after the lock it
  // came from is gone. A writer may split, merge or free that VMA meanwhile:
  // the fault reads its fields unlocked (a data race) or freed (a use after
  // free), and may map a page where the VMA no longer allows it.
  kVmaRefAfterUnlock,
  // The retry of a fault under the mmap lock keeps the VMA read lock it
  // could not use (vma_end_read after the retry, not before): vma -> mmap,
  // an inversion. It deadlocks only when a writer holding the mmap write
  // lock waits in vma_start_write for that same VMA. lockdep reports the
  // order at once; with MMV_LOCKDEP=off the scheduler must report the
  // deadlock.
  kRetryKeepsVmaLock,
  // File::writeback write-protects the mappings before it clears the
  // folio's dirty bit (the order it had before the fix recorded in
  // impl/file.cc): a write fault in between dirties the folio, the clear
  // drops that, and the store through the now-writable PTE is never
  // written back.
  kWritebackProtectFirst,
  // A thread's exit moves its cached frames to the shared free list
  // without the list's mutex: two threads exiting together, or one exiting
  // while another refills, corrupt the list. Nothing but TSan sees it
  // reliably. (Not in MMV_ASAN builds, whose frames bypass the lists.)
  kFreeListUnlocked,
};

constexpr const char* fault_name(Fault f) {
  switch (f) {
    case Fault::kNone: return "kNone";
    case Fault::kZapForgetsDirty: return "kZapForgetsDirty";
    case Fault::kZapFreesTable: return "kZapFreesTable";
    case Fault::kPmdSplitRssLeak: return "kPmdSplitRssLeak";
    case Fault::kMmgetFromZero: return "kMmgetFromZero";
    case Fault::kBadZapNotRejected: return "kBadZapNotRejected";
    case Fault::kZapRoundsEndDown: return "kZapRoundsEndDown";
    case Fault::kExitSkipsWriteback: return "kExitSkipsWriteback";
    case Fault::kMmgetNotZeroRacy: return "kMmgetNotZeroRacy";
    case Fault::kVmaChangedWithoutWriteLock: return "kVmaChangedWithoutWriteLock";
    case Fault::kNoRangeRecheck: return "kNoRangeRecheck";
    case Fault::kFreeBeforeFlush: return "kFreeBeforeFlush";
    case Fault::kFolioPutRacy: return "kFolioPutRacy";
    case Fault::kPublishBeforeInit: return "kPublishBeforeInit";
    case Fault::kVmaRefAfterUnlock: return "kVmaRefAfterUnlock";
    case Fault::kRetryKeepsVmaLock: return "kRetryKeepsVmaLock";
    case Fault::kWritebackProtectFirst: return "kWritebackProtectFirst";
    case Fault::kFreeListUnlocked: return "kFreeListUnlocked";
  }
  return "?";
}

// The fault spelled `name` as fault_name() spells it, if there is one.
inline std::optional<Fault> fault_from_name(std::string_view name) {
  for (int i = 0; std::string_view(fault_name(static_cast<Fault>(i))) != "?"; ++i)
    if (name == fault_name(static_cast<Fault>(i))) return static_cast<Fault>(i);
  return std::nullopt;
}

// Every fault's name, space-separated (for error messages).
inline std::string all_fault_names() {
  std::string out;
  for (int i = 0; std::string_view(fault_name(static_cast<Fault>(i))) != "?"; ++i) {
    if (i) out += ' ';
    out += fault_name(static_cast<Fault>(i));
  }
  return out;
}

// The fault the MMV_FAULT environment variable names (nullopt when it is
// unset or empty). A name that is no fault, or MMV_FAULT in a build without
// the switch, ends the process with exit status 2 and the list of names: a
// typo must not read as "the fault was not caught".
inline std::optional<Fault> fault_from_env_or_exit() {
  const char* name = std::getenv("MMV_FAULT");
  if (!name || !*name) return std::nullopt;
#if MMV_FAULTS
  if (const std::optional<Fault> f = fault_from_name(name)) return f;
  std::fprintf(stderr, "MMV_FAULT=%s names no fault; the faults are: %s\n", name, all_fault_names().c_str());
#else
  std::fprintf(stderr, "MMV_FAULT=%s: this build has no fault switch (CMake option MMV_FAULTS is off)\n", name);
#endif
  std::exit(2);
}

#if MMV_FAULTS

namespace fault_detail {
inline std::atomic<Fault> g_active{Fault::kNone};
}  // namespace fault_detail

inline bool fault_active(Fault f) {
  return fault_detail::g_active.load(std::memory_order_relaxed) == f;
}

// Switches `f` on for its lifetime (kNone: all off) and restores the
// previous setting when destroyed.
class ScopedFault {
 public:
  explicit ScopedFault(Fault f)
      : previous_(fault_detail::g_active.exchange(f, std::memory_order_relaxed)) {}
  ~ScopedFault() { fault_detail::g_active.store(previous_, std::memory_order_relaxed); }
  ScopedFault(const ScopedFault&) = delete;
  ScopedFault& operator=(const ScopedFault&) = delete;

 private:
  Fault previous_;
};

#else  // !MMV_FAULTS

constexpr bool fault_active(Fault) { return false; }

#endif  // MMV_FAULTS

}  // namespace mmv::impl
