// Mutex: std::mutex with a lockdep class and Clang capability annotations,
// and MutexLock, its scoped guard. Every plain mutual-exclusion lock in
// impl/ is one of these, so the analysis and lockdep see all of them.
#pragma once

#include <mutex>

#include "impl/lockdep.h"
#include "impl/sched_hooks.h"
#include "impl/thread_annotations.h"

namespace mmv::impl {

class MMV_CAPABILITY("mutex") Mutex {
 public:
  explicit Mutex(lockdep::LockClass cls) : cls_(cls) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() MMV_ACQUIRE() {
    lockdep::acquire(cls_, this);
    sched_lock(mu_, "mutex lock");
  }
  bool try_lock() MMV_TRY_ACQUIRE(true) {
    sched_point("mutex trylock");
    if (!mu_.try_lock()) return false;
    sched_acquired(&mu_);
    lockdep::acquire(cls_, this, /*trylock=*/true);
    return true;
  }
  void unlock() MMV_RELEASE() {
    lockdep::release(cls_, this);
    sched_unlock(mu_);
  }

 private:
  std::mutex mu_;
  const lockdep::LockClass cls_;
};

class MMV_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) MMV_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() MMV_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace mmv::impl
