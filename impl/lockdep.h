// lockdep: a debug-build check of the lock order (SPEC.md section 2), in the
// spirit of the kernel's lockdep. Every lock in impl/ belongs to a class; a
// thread that takes a lock of a class ranked before one it already holds
// (an inversion), or takes a second lock of a class that must not nest, is
// reported, whether or not a deadlock happens on this run. Try-locks are
// recorded but not checked: they cannot wait, so they cannot deadlock.
//
// The order, first to last:
//   writeback -> mmap -> vma -> file mappings -> page_table_lock -> pmd ->
//   pte -> page cache -> tlb -> async work queue
// (page-table locks are PMD before PTE; folio state is atomics, after all.)
//
// MMV_LOCKDEP=off in the environment turns the order checks off (the
// held-lock lists stay): to show that the controlled scheduler finds, as a
// deadlock, an inversion lockdep would have reported first
// (stress/fault_catch_test.cc). MMV_LOCKDEP=on (or unset or empty) leaves
// them on; any other value ends the process before main with exit status 2
// (testing/cli.h).
//
// Under the controlled scheduler (sched/sched.h), a thread that blocks
// hands it its held-lock list, so a deadlock report says who holds what.
//
// Compiled in when MMV_LOCKDEP is 1 (CMake option MMV_LOCKDEP, on in every
// preset but release); otherwise every function here is an empty inline.
//
// Thread safety: the held-lock stack is per thread; the report handler is a
// process-wide atomic pointer.
#pragma once

#include <cstdint>
#include <string>

#ifndef MMV_LOCKDEP
#define MMV_LOCKDEP 0
#endif

namespace mmv::impl::lockdep {

enum class LockClass : std::uint8_t {
  kWriteback,      // File::writeback_lock_: one writeback of a file at a time
  kMmap,           // MmapLock
  kVma,            // a VMA's read/write lock
  kFileMappings,   // File::mappers_lock_ (the kernel's i_mmap_rwsem)
  kPageTableLock,  // PageTables::page_table_lock_ (upper-level tables)
  kPmd,            // a PMD table's split lock
  kPte,            // a PTE table's split lock (the kernel's PTL)
  kPageCache,      // File::cache_lock_ (the kernel's i_pages lock)
  kTlb,            // one CPU's software TLB (impl/tlb.h)
  kWorkQueue,      // Kernel's mmput_async queue
};

const char* class_name(LockClass c);

// Called with a one-line description of the violation and the locks held.
// The default handler prints it to stderr and aborts.
using ReportHandler = void (*)(const std::string& report);
ReportHandler set_report_handler(ReportHandler h);  // returns the old one

#if MMV_LOCKDEP
// `lock` identifies the lock instance; `trylock` skips the order check.
void acquire(LockClass c, const void* lock, bool trylock = false);
void release(LockClass c, const void* lock);
// Number of locks this thread holds (for tests and assertions).
int held_count();
// "mmap@0x... pte@0x...": the locks this thread holds, oldest first.
std::string held_text();
#else
inline void acquire(LockClass, const void*, bool = false) {}
inline void release(LockClass, const void*) {}
inline int held_count() { return 0; }
inline std::string held_text() { return ""; }
#endif

}  // namespace mmv::impl::lockdep
