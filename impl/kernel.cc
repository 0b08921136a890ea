#include "impl/kernel.h"

#include "impl/mm.h"
#include "impl/sched_hooks.h"

namespace mmv::impl {

Kernel::Kernel(Worker worker) {
  if (worker == Worker::kOwnThread) worker_ = std::thread([this] { worker_loop(); });
}

Kernel::~Kernel() {
  drain_work();
  {
    MutexLock g(work_lock_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  {
    // Files drop the mm_count references of mms that still map them.
    std::map<FileId, std::unique_ptr<File>> files;
    {
      MutexLock g(registry_lock_);
      files.swap(files_);
    }
  }
  rcu::barrier();
}

ARef<MmWithUser> Kernel::mm_alloc(Addr window_lo, Addr window_hi) {
  return ARef<MmWithUser>::adopt(new MmWithUser(*this, window_lo, window_hi));
}

FileId Kernel::create_file(std::vector<PageBytes> contents, Cache cache) {
  const FileId id = next_file_.fetch_add(1, std::memory_order_acq_rel);
  auto file = std::make_unique<File>(*this, id, std::move(contents));
  if (cache == Cache::kWarm) file->populate_cache();
  MutexLock g(registry_lock_);
  files_[id] = std::move(file);
  return id;
}

File* Kernel::file(FileId f) {
  MutexLock g(registry_lock_);
  auto it = files_.find(f);
  return it == files_.end() ? nullptr : it->second.get();
}

PageBytes Kernel::file_page(FileId f, std::uint64_t index) { return file(f)->read_page(index); }
PageBytes Kernel::disk_page(FileId f, std::uint64_t index) { return file(f)->disk_page(index); }

Status Kernel::writeback(FileId f) {
  File* file_ptr = file(f);
  if (!file_ptr) return Errc::kInval;
  file_ptr->writeback();
  return {};
}

Folio* Kernel::new_folio(FolioKind kind, unsigned order, std::uint32_t refs) {
  const FolioId id = next_folio_.fetch_add(1, std::memory_order_acq_rel);
  return new Folio(id, kind, order, refs, kind == FolioKind::kDriver ? this : nullptr);
}

Result<FolioId> Kernel::alloc_page() {
  if (!try_alloc()) return Errc::kNoMem;
  Folio* f = new_folio(FolioKind::kDriver, 0, 1);
  f->pins().store(1, std::memory_order_release);
  MutexLock g(registry_lock_);
  driver_pages_[f->id()] = f;
  return f->id();
}

Status Kernel::put_page(FolioId id) {
  Folio* f = nullptr;
  {
    MutexLock g(registry_lock_);
    auto it = driver_pages_.find(id);
    if (it == driver_pages_.end()) return Errc::kInval;
    f = it->second;
    std::uint32_t pins = f->pins().load(std::memory_order_acquire);
    do {
      if (pins == 0) return Errc::kInval;
    } while (!f->pins().compare_exchange_weak(pins, pins - 1, std::memory_order_acq_rel));
  }
  f->put();  // may call folio_freed, which takes registry_lock_ again
  return {};
}

void Kernel::folio_freed(Folio& f) {
  MutexLock g(registry_lock_);
  driver_pages_.erase(f.id());
}

Folio* Kernel::get_insertable_folio(FolioId id) {
  std::vector<File*> files;
  {
    MutexLock g(registry_lock_);
    if (auto it = driver_pages_.find(id); it != driver_pages_.end()) {
      AtomicRefcount::Event ev;
      return it->second->refcount().inc_not_zero(&ev) ? it->second : nullptr;
    }
    for (auto& [fid, file] : files_) files.push_back(file.get());
  }
  // A page-cache folio stays in its cache for the life of the file.
  for (File* file : files) {
    for (auto& [index, f] : file->cached()) {
      if (f->id() == id) {
        f->refcount().inc();
        return f;
      }
    }
  }
  return nullptr;
}

void Kernel::queue_work(std::function<void()> work) {
  {
    MutexLock g(work_lock_);
    work_.push_back(std::move(work));
    pending_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_all();
  wake_server();
}

void Kernel::wake_server() { sched_released(&pending_); }

bool Kernel::run_one_work() {
  std::function<void()> work;
  {
    MutexLock g(work_lock_);
    if (work_.empty()) return false;
    work = std::move(work_.front());
    work_.pop_front();
    pending_.fetch_sub(1, std::memory_order_relaxed);
    ++running_;
  }
  work();
  {
    MutexLock g(work_lock_);
    --running_;
  }
  work_cv_.notify_all();
  return true;
}

void Kernel::serve_work_until(const std::function<bool()>& done) {
  for (;;) {
    if (run_one_work()) continue;
    // No scheduling point from these loads to the wait: a queue_work() or
    // wake_server() can only come before them (seen here) or after the
    // wait began (wakes it).
    if (pending_.load(std::memory_order_relaxed) > 0) continue;
    if (done()) return;
    if (sched_active()) sched_block_on(&pending_, "async work queue empty");
    else std::this_thread::yield();
  }
}

void Kernel::drain_work() {
  MutexLock g(work_lock_);
  while (!work_.empty() || running_ > 0) work_cv_.wait(work_lock_);
}

void Kernel::worker_loop() {
  for (;;) {
    {
      MutexLock g(work_lock_);
      while (work_.empty() && !stopping_) work_cv_.wait(work_lock_);
      if (work_.empty()) return;
    }
    run_one_work();  // this thread is the only one that takes work
  }
}

void Kernel::report_bug(std::string bug) {
  MutexLock g(registry_lock_);
  bugs_.push_back(std::move(bug));
}

std::vector<std::string> Kernel::bugs() {
  MutexLock g(registry_lock_);
  return bugs_;
}

std::vector<FileId> Kernel::file_ids() {
  MutexLock g(registry_lock_);
  std::vector<FileId> out;
  for (const auto& [id, f] : files_) out.push_back(id);
  return out;
}

std::vector<Folio*> Kernel::driver_pages() {
  MutexLock g(registry_lock_);
  std::vector<Folio*> out;
  for (const auto& [id, f] : driver_pages_) out.push_back(f);
  return out;
}

}  // namespace mmv::impl
