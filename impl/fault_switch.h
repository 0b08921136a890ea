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
  // Mm::modify_flags (mprotect, mmap's HUGEPAGE advice): the VMA whose flags
  // change is not write-locked first (vma_start_write skipped), so a reader
  // holding its VMA read lock sees
  // the flags change under it (a data race on VmaRef::flags_).
  kVmaChangedWithoutWriteLock,
  // lock_vma_under_rcu: no post-lock re-check that the VMA still contains
  // addr (no widening yield: the window is between the RCU lookup and the
  // lock's scheduling points); a reader can get a VMA that shrank away from
  // its address.
  kNoRangeRecheck,
  // MmuGather::add: the folio reference is put at once, before the TLB
  // flush for the batch (CVE-2018-18281's class). Another CPU whose TLB
  // (impl/tlb.h) still maps the page reads or writes it after it is freed,
  // until the flush; only a concurrent access can land in that window.
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
  // A thread's exit moves its cached frames and descriptors to the shared
  // free lists without the lists' mutexes (impl/page_alloc.cc): two threads
  // exiting together, or one exiting while another refills, corrupt a
  // list. Nothing but TSan sees it reliably. (Not in MMV_ASAN builds,
  // whose frames and descriptors bypass the lists.)
  kFreeListUnlocked,
  // ---- Stale translations (impl/tlb.h): a shootdown left out.
  // mprotect takes access away without flushing the TLBs: a CPU that
  // cached the page writable still writes it through the stale entry.
  kMprotectSkipsShootdown,
  // folio_mkclean write-protects and cleans the PTE without flushing: a
  // store through the stale writable entry dirties nothing, and is never
  // written back.
  kMkcleanSkipsShootdown,
  // munmap's gather puts its pages without the shootdown (the put kept, the
  // TLB flush lost): a CPU reads freed memory through its stale entry.
  kMunmapSkipsShootdown,
  // ~MmuGather: no forced flush when another zap of the mm is in flight
  // (the bug 99baac21e458 fixed): a zap that finds the entries already
  // cleared by a concurrent zap returns while its CPU's TLB still maps the
  // old page, and the thread reads what it zapped.
  kNestedZapSkipsFlush,
  // ---- More of the catalogue.
  // zap_range: a young PTE does not mark its file folio accessed, so
  // reclaim loses the use.
  kZapForgetsAccessed,
  // vm_insert_page: a VMA without VM_MIXEDMAP is accepted (the
  // as_mixedmap_vma() check skipped).
  kInsertPageNotMixedMap,
  // publish_vmas: the old VMA snapshot is freed at once instead of after a
  // grace period, while lock_vma_under_rcu readers may still walk it
  // (StackRot's class: a VMA-tree node freed without waiting for RCU).
  kSnapshotFreedWithoutRcu,
  // MmWithUser::put_user (mmput, mmput_async): the user reference is
  // dropped with a plain decrement, and the count is read again to decide
  // who tears down (atomic_dec, then atomic_read == 0) instead of using the
  // decrement's own result: when two last users drop together, both can
  // read 0 and both tear the mm down. The window is one load.
  kMmputRereadsCount,
  // rcu's grace_period_and_free takes the callbacks it frees when the grace
  // period ends instead of before it starts: an object retired while the
  // grace period ran is freed at its end, though a reader that began during
  // it (and was not waited for) may still hold it.
  kRetireInGracePeriod,
  // MmapLock::unlock moves mm_lock_seq on with a relaxed increment instead
  // of a release (vma_end_write_all without its store-release): a VMA
  // reader whose acquire load sees the new number does not also see what
  // the writer did before unlocking -- e.g. that it detached the VMA --
  // and may lock a VMA munmap has removed. Only weak memory shows it: on
  // x86 the increment is a locked instruction either way, and every value
  // involved is atomic, so ThreadSanitizer has no race to report.
  kSeqUnlockRelaxed,
  // ---- Beyond one batch: operations larger than an internal size.
  // MmuGather::flush resets the covered range after each flush, as
  // asm-generic/tlb.h's __tlb_reset_range does. That is right where every
  // cleared entry widens the range again (Linux's tlb_remove_tlb_entry),
  // but zap_range covers a PTE table's part once, before its entries: when
  // a full batch (MmuGather::kBatch) is flushed in the middle of a table,
  // the entries cleared after it lie in no later flush's range, and their
  // pages are put while other CPUs' TLBs still map them. Only a zap or
  // munmap that gathers more than one batch in one table, with another CPU
  // holding a translation past the first batch, shows it.
  kBatchFlushForgetsRange,
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
    case Fault::kMprotectSkipsShootdown: return "kMprotectSkipsShootdown";
    case Fault::kMkcleanSkipsShootdown: return "kMkcleanSkipsShootdown";
    case Fault::kMunmapSkipsShootdown: return "kMunmapSkipsShootdown";
    case Fault::kNestedZapSkipsFlush: return "kNestedZapSkipsFlush";
    case Fault::kZapForgetsAccessed: return "kZapForgetsAccessed";
    case Fault::kInsertPageNotMixedMap: return "kInsertPageNotMixedMap";
    case Fault::kSnapshotFreedWithoutRcu: return "kSnapshotFreedWithoutRcu";
    case Fault::kMmputRereadsCount: return "kMmputRereadsCount";
    case Fault::kRetireInGracePeriod: return "kRetireInGracePeriod";
    case Fault::kSeqUnlockRelaxed: return "kSeqUnlockRelaxed";
    case Fault::kBatchFlushForgetsRange: return "kBatchFlushForgetsRange";
  }
  return "?";
}

// The catalogue (docs/faults.md; scripts/fault-report): for
// each fault, the real Linux bug or rule it stands for (a CVE, a fix's
// subject, or where the rule lives), its class, and the suite that catches
// it. Every fault but kNone is listed once.
struct FaultInfo {
  Fault fault;
  const char* real_bug;
  const char* bug_class;  // lost data, use-after-free, refcount, lock, accounting, semantics, stale TLB
  const char* suite;      // "property": fault_detection_test; "sched": sched_catch_test; "sched (asan|tsan)"
};
inline constexpr FaultInfo kFaultCatalogue[] = {
    {Fault::kZapForgetsDirty, "zap_pte_range: a dirty PTE sets its page dirty (lost-write class)", "lost data", "property"},
    {Fault::kZapFreesTable, "MADV_DONTNEED must not free page tables: only munmap does, under the mmap write lock",
     "use-after-free", "property"},
    {Fault::kPmdSplitRssLeak, "'BUG: Bad rss-counter state': rss drifting on a THP split", "accounting", "property"},
    {Fault::kMmgetFromZero, "CVE-2019-11599: a user reference taken on an mm already torn down", "refcount",
     "property"},
    {Fault::kBadZapNotRejected, "Rust VmaRef::zap_page_range_single's range check (rust/kernel/mm/virt.rs)",
     "semantics", "property"},
    {Fault::kZapRoundsEndDown, "zap range rounding: a partial last page must be zapped", "semantics", "property"},
    {Fault::kExitSkipsWriteback, "exit_mmap dropping dirty shared file data", "lost data", "property"},
    {Fault::kMmgetNotZeroRacy, "CVE-2019-11599's class: mmget_not_zero racing the last mmput", "refcount",
     "sched"},
    {Fault::kVmaChangedWithoutWriteLock, "CVE-2023-4611: a VMA changed without vma_start_write", "lock", "sched"},
    {Fault::kNoRangeRecheck, "lock_vma_under_rcu's re-check of the address once the VMA is locked", "lock",
     "sched"},
    {Fault::kFreeBeforeFlush, "CVE-2018-18281: pages freed while a stale TLB entry still maps them",
     "stale TLB", "sched (asan)"},
    {Fault::kFolioPutRacy, "folio_put as a load and a store, not one atomic decrement", "refcount", "sched"},
    {Fault::kPublishBeforeInit, "rcu_assign_pointer's rule: initialise, then publish", "lock", "sched (tsan)"},
    {Fault::kVmaRefAfterUnlock, "a VMA used after mmap_read_unlock", "use-after-free", "sched"},
    {Fault::kRetryKeepsVmaLock, "VM_FAULT_RETRY under the VMA lock: vma_end_read before taking mmap_lock",
     "lock", "sched"},
    {Fault::kWritebackProtectFirst, "folio_clear_dirty_for_io's order of mkclean and clearing the dirty bit",
     "lost data", "sched"},
    {Fault::kFreeListUnlocked, "'mm/page_alloc: protect PCP lists with a spinlock'", "lock", "sched (tsan)"},
    {Fault::kMprotectSkipsShootdown, "change_protection's flush_tlb_range (mm/mprotect.c)", "stale TLB",
     "property"},
    {Fault::kMkcleanSkipsShootdown, "page_vma_mkclean_one's TLB flush (mm/rmap.c)", "stale TLB", "property"},
    {Fault::kMunmapSkipsShootdown, "CVE-2022-39188: unmap_mapping_range flushing the TLB after the pages were freed",
     "stale TLB", "property"},
    {Fault::kNestedZapSkipsFlush, "'mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem' (mm_tlb_flush_nested)",
     "stale TLB", "sched"},
    {Fault::kZapForgetsAccessed, "zap_pte_range: a young PTE marks its page accessed", "accounting", "property"},
    {Fault::kInsertPageNotMixedMap, "vm_insert_page on a VMA without VM_MIXEDMAP (Rust VmaMixedMap)", "semantics",
     "property"},
    {Fault::kSnapshotFreedWithoutRcu, "CVE-2023-3269 (StackRot): a VMA-tree node freed without waiting for RCU",
     "use-after-free", "sched (asan)"},
    {Fault::kMmputRereadsCount, "atomic_dec_and_test's rule: the last reference is the one whose decrement hit zero, "
     "not whoever reads zero afterwards", "refcount", "sched (asan)"},
    {Fault::kRetireInGracePeriod, "RCU callbacks wait for a grace period that starts after call_rcu, "
     "never one already running (rcu_segcblist's segments)", "use-after-free", "sched (asan)"},
    {Fault::kSeqUnlockRelaxed, "'mm: fix memory ordering for mm_lock_seq and vm_lock_seq' (Jann Horn, 2023): "
     "the store-release of mm_lock_seq at mmap_write_unlock", "lock", "sched (asan)"},
    {Fault::kBatchFlushForgetsRange,
     "__tlb_reset_range after a mid-walk flush: the range must still cover the entries cleared after it (mmu_gather)",
     "stale TLB", "property"},
};

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
// typo must not read as "the fault was not caught". Called at start by
// every gtest binary (testing/gtest_main.cc), stress_runner, fault_table,
// fault_report, replay, oracle_replay and the fuzzers, whether or not they
// switch the fault on, so that `MMV_FAULT=kTypo ctest` fails everywhere.
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
