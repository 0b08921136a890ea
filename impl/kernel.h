// Kernel: everything outside one address space that impl/ needs -- files
// and their page caches, the folio allocator with its allocation-failure
// gate, caller-owned driver pages, the worker that runs mmput_async
// teardowns, and the list of bugs the kernel would WARN about. A Kernel must
// outlive every Mm it made.
//
// Thread safety: every public member may be called concurrently.
//  - files_, driver_pages_ and bugs_ are guarded by registry_lock_, a leaf.
//  - The allocation gate is one atomic flag: fail_next_allocation() arms
//    it, the next try_alloc() anywhere consumes it and fails.
//  - Folio ids come from an atomic counter; a sequential run allocates them
//    in exactly the order model::System does, so ids can be compared.
//
// Invariants:
//  1. driver_pages_ holds exactly the live kDriver folios (a folio leaves it
//     in folio_freed, when its refcount reaches 0).
//  2. Files are never removed before the Kernel is destroyed, so a File*
//     from file() stays valid.
//  3. No queued work outlives the Kernel: the destructor drains the queue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "impl/file.h"
#include "impl/folio.h"
#include "impl/mutex.h"
#include "model/addr.h"
#include "model/page_bytes.h"
#include "model/result.h"

namespace mmv::impl {

class MmWithUser;
template <class T>
class ARef;

enum class Cache { kWarm, kCold };  // as model::System::Cache

class Kernel final : private FolioOwner {
 public:
  // Who runs queued work (mmput_async's teardowns): the Kernel's own
  // worker thread, or a thread of the caller's that calls
  // serve_work_until() -- under the controlled scheduler (sched/sched.h),
  // a scheduled thread, so the teardown is scheduled like everything else.
  enum class Worker { kOwnThread, kCallerServes };
  explicit Kernel(Worker worker = Worker::kOwnThread);
  ~Kernel();  // runs queued teardowns, then frees what RCU still holds
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // A new address space: mm_users = 1, mm_count = 1. First-fit placement
  // searches [window_lo, window_hi).
  ARef<MmWithUser> mm_alloc(Addr window_lo = kMmapMinAddr, Addr window_hi = kTaskSize);

  // ---- Files (model::System's file calls, same meaning) -----------------
  FileId create_file(std::vector<PageBytes> contents, Cache cache = Cache::kWarm);
  File* file(FileId f);  // null if there is no such file
  PageBytes file_page(FileId f, std::uint64_t index);
  PageBytes disk_page(FileId f, std::uint64_t index);
  Status writeback(FileId f);  // EINVAL for an unknown file

  // ---- Caller-owned pages ------------------------------------------------
  // A new order-0 driver page, refcount 1 (the caller's pin). ENOMEM when
  // the allocation gate fails it.
  Result<FolioId> alloc_page();
  // Drops the caller's pin. EINVAL if `id` is not a live pinned page.
  Status put_page(FolioId id);
  // The folio vm_insert_page should map for `id` -- a live driver page or
  // a page-cache folio -- with one extra reference the caller must put();
  // null otherwise (anonymous folios are never handed out). For the
  // model-shaped MmWithUser::vm_insert_page.
  Folio* get_insertable_folio(FolioId id) MMV_EXCLUDES(registry_lock_);

  // ---- Allocation --------------------------------------------------------
  void fail_next_allocation() { fail_next_.store(true, std::memory_order_release); }
  bool allocation_failure_armed() const { return fail_next_.load(std::memory_order_acquire); }
  // The allocation gate: false (consuming the injected failure) if this
  // allocation is to fail. Called at exactly the points where model::System
  // calls try_alloc, so both fail the same allocation.
  // Every fault that allocates passes here: a load first, so that while no
  // failure is armed no fault writes this kernel-wide cache line.
  bool try_alloc() {
    return !(fail_next_.load(std::memory_order_acquire) &&
             fail_next_.exchange(false, std::memory_order_acq_rel));
  }
  // A new folio with the next id and `refs` references.
  Folio* new_folio(FolioKind kind, unsigned order, std::uint32_t refs);
  FolioId next_folio_id() const { return next_folio_.load(std::memory_order_acquire); }
  FileId next_file_id() const { return next_file_.load(std::memory_order_acquire); }

  // ---- Deferred work and bugs --------------------------------------------
  // Runs `work` on the kernel's worker thread (mmput_async's teardown).
  void queue_work(std::function<void()> work) MMV_EXCLUDES(work_lock_);
  // Waits until every queued work item has run.
  void drain_work() MMV_EXCLUDES(work_lock_);
  // Worker::kCallerServes: runs queued work on the calling thread until the
  // queue is empty and done() is true, waiting in between (a scheduler wait
  // under the scheduler). done() must not take locks; whoever makes it true
  // calls wake_server() after.
  void serve_work_until(const std::function<bool()>& done) MMV_EXCLUDES(work_lock_);
  void wake_server();
  void report_bug(std::string bug) MMV_EXCLUDES(registry_lock_);
  std::vector<std::string> bugs() MMV_EXCLUDES(registry_lock_);

  std::vector<FileId> file_ids() MMV_EXCLUDES(registry_lock_);
  // Live driver pages (pinned or mapped), for observation.
  std::vector<Folio*> driver_pages() MMV_EXCLUDES(registry_lock_);

 private:
  void worker_loop() MMV_EXCLUDES(work_lock_);
  // Runs one queued item on this thread; false if there was none.
  bool run_one_work() MMV_EXCLUDES(work_lock_);
  void folio_freed(Folio& f) override MMV_EXCLUDES(registry_lock_);

  std::atomic<bool> fail_next_{false};
  std::atomic<FolioId> next_folio_{1};
  std::atomic<FileId> next_file_{1};

  Mutex registry_lock_{lockdep::LockClass::kWorkQueue};
  std::map<FileId, std::unique_ptr<File>> files_ MMV_GUARDED_BY(registry_lock_);
  std::map<FolioId, Folio*> driver_pages_ MMV_GUARDED_BY(registry_lock_);  // live
  std::vector<std::string> bugs_ MMV_GUARDED_BY(registry_lock_);

  Mutex work_lock_{lockdep::LockClass::kWorkQueue};
  std::condition_variable_any work_cv_;
  std::deque<std::function<void()>> work_ MMV_GUARDED_BY(work_lock_);
  int running_ MMV_GUARDED_BY(work_lock_) = 0;
  bool stopping_ MMV_GUARDED_BY(work_lock_) = false;
  // work_.size(), readable without the lock: the server's last look before
  // it waits must not be a scheduling point, or a wake-up could be lost.
  std::atomic<int> pending_{0};
  std::thread worker_;  // not started for Worker::kCallerServes
};

}  // namespace mmv::impl
