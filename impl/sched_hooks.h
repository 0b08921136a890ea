// Scheduling points for the controlled scheduler (sched/sched.h), in a
// build with MMV_SCHED; in any other build every hook compiles to nothing.
// The impl's wrappers call these, never its call sites: a lock acquire
// (including trylock), a refcount read-modify-write, an RCU read section's
// end and a grace period are the points where another thread may run.
//
// A blocking wait under the scheduler is a scheduler wait: sched_lock()
// tries the lock and, while another thread holds it, blocks on it until
// that thread's unlock calls sched_released(); so the scheduler always
// knows who can run, and a deadlock is reported, never hung on.
#pragma once

#if MMV_SCHED
#include "sched/sched.h"
#endif

namespace mmv::impl {

#if MMV_SCHED
inline bool sched_active() { return sched::active(); }
inline void sched_point(const char* what) { sched::point(what); }
inline void sched_block_on(const void* obj, const char* what) { sched::block_on(obj, what); }
inline void sched_released(const void* obj) { sched::released(obj); }
#else
constexpr bool sched_active() { return false; }
inline void sched_point(const char*) {}
inline void sched_block_on(const void*, const char*) {}
inline void sched_released(const void*) {}
#endif

// lock.lock(), as a scheduler wait when under the scheduler.
template <class Lockable>
void sched_lock(Lockable& lock, const char* what) {
  if (!sched_active()) {
    lock.lock();
    return;
  }
  sched_point(what);
  while (!lock.try_lock()) sched_block_on(&lock, what);
}

// lock.lock_shared(), likewise.
template <class SharedLockable>
void sched_lock_shared(SharedLockable& lock, const char* what) {
  if (!sched_active()) {
    lock.lock_shared();
    return;
  }
  sched_point(what);
  while (!lock.try_lock_shared()) sched_block_on(&lock, what);
}

// lock.unlock(), then threads blocked on it under the scheduler may go on.
template <class Lockable>
void sched_unlock(Lockable& lock) {
  lock.unlock();
  sched_released(&lock);
}

// lock.unlock_shared(), likewise.
template <class SharedLockable>
void sched_unlock_shared(SharedLockable& lock) {
  lock.unlock_shared();
  sched_released(&lock);
}

}  // namespace mmv::impl
