// Scheduling points for the controlled scheduler (sched/sched.h), in a
// build with MMV_SCHED; in any other build every hook compiles to nothing.
// The impl's wrappers call these, never its call sites: a lock acquire
// (including trylock), a refcount read-modify-write, an RCU read section's
// end and a grace period are the points where another thread may run.
//
// Every lock acquired under the scheduler says so (sched_acquired), and
// every unlock (sched_released): under weak memory those are the
// happens-before edges that locks give.
//
// A blocking wait under the scheduler is a scheduler wait: sched_lock()
// tries the lock and, while another thread holds it, blocks on it until
// that thread's unlock calls sched_released(); so the scheduler always
// knows who can run, and a deadlock is reported, never hung on.
#pragma once

#include <atomic>
#include <cstdint>

#if MMV_SCHED
#include "sched/sched.h"
#endif

namespace mmv::impl {

#if MMV_SCHED
inline bool sched_active() { return sched::active(); }
inline void sched_point(const char* what) { sched::point(what); }
inline void sched_block_on(const void* obj, const char* what) { sched::block_on(obj, what); }
inline void sched_released(const void* obj) { sched::released(obj); }
inline void sched_acquired(const void* obj) { sched::acquired(obj); }
inline bool sched_weak_active() { return sched::weak_active(); }
inline std::uint64_t sched_weak_load(const void* loc, std::uint64_t newest, std::memory_order mo) {
  return sched::weak_load(loc, newest, static_cast<int>(mo));
}
inline void sched_weak_store(const void* loc, std::uint64_t before, std::uint64_t value, std::memory_order mo) {
  sched::weak_store(loc, before, value, static_cast<int>(mo));
}
inline void sched_weak_rmw(const void* loc, std::uint64_t before, std::uint64_t value, std::memory_order mo,
                           bool failed) {
  sched::weak_rmw(loc, before, value, static_cast<int>(mo), failed);
}
inline void sched_weak_forget(const void* loc) { sched::weak_forget(loc); }
#else
constexpr bool sched_active() { return false; }
inline void sched_point(const char*) {}
inline void sched_block_on(const void*, const char*) {}
inline void sched_released(const void*) {}
inline void sched_acquired(const void*) {}
constexpr bool sched_weak_active() { return false; }
inline std::uint64_t sched_weak_load(const void*, std::uint64_t newest, std::memory_order) { return newest; }
inline void sched_weak_store(const void*, std::uint64_t, std::uint64_t, std::memory_order) {}
inline void sched_weak_rmw(const void*, std::uint64_t, std::uint64_t, std::memory_order, bool) {}
inline void sched_weak_forget(const void*) {}
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
  sched_acquired(&lock);
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
  sched_acquired(&lock);
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
