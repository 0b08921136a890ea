// RCU for impl/: read-side critical sections and deferred freeing, on top of
// liburcu's memory-barrier flavour (urcu-memb, Debian's liburcu-dev).
//
// Thread safety:
//  - ReadGuard may be taken on any thread, nested; the thread is registered
//    with liburcu the first time and unregistered when it exits.
//  - retire() may be called from any thread; the object is destroyed after
//    a grace period, i.e. once every read section that began before the
//    retire() call has ended, by reclaim() or barrier() on some thread.
//  - reclaim()/barrier() wait for a grace period and must not be called
//    inside a read section (that would wait for itself); reclaim() quietly
//    does nothing there and leaves the work to a later call.
//
// Invariants:
//  1. An object passed to retire() is destroyed exactly once, and only after
//     every read section that was running at the time of the retire() call
//     has ended.
//  2. Callers retire an object only once no published pointer leads to it
//     (Mm publishes the new VMA snapshot first, then retires the old one and
//     the VMAs it alone named).
//
// ThreadSanitizer cannot see liburcu's own ordering (the library is not
// instrumented, and it orders with standalone fences). Under TSan only, each
// read section therefore ends with a release increment of one shared atomic
// and each grace period ends with an acquire load of it, which gives TSan
// the happens-before edge from every finished reader to the freeing thread
// that the grace period guarantees in fact. Pointers that readers follow
// are published with std::atomic release stores and read with acquire
// loads (SPEC.md section 7), never with liburcu's rcu_assign_pointer.
#pragma once

#include <cstddef>
#include <functional>

#include "impl/thread_annotations.h"

namespace mmv::impl::rcu {

// The capability "inside an RCU read section", for REQUIRES_SHARED.
class MMV_CAPABILITY("rcu") Rcu {};
extern Rcu kRcu;

class MMV_SCOPED_CAPABILITY ReadGuard {
 public:
  ReadGuard() MMV_ACQUIRE_SHARED(kRcu);
  ~ReadGuard() MMV_RELEASE();
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
};

bool in_read_section();
// Ends this thread's registration with liburcu now instead of at thread
// exit (a later read section registers it again). For threads run by the
// controlled scheduler: their exit runs after the scheduler has let them
// go, at a time only the OS decides, and liburcu's unregistration takes its
// registry lock -- a pthread mutex that TSan sees, and that every grace
// period also takes. Left to thread exit, it orders the exiting thread's
// work before some other thread's grace period or not depending on load,
// so a replayed schedule could hide a race it had shown. Not inside a read
// section.
void unregister_thread();

// Destroys `free` after a grace period (the kernel's call_rcu / kfree_rcu).
void retire(std::function<void()> free);
template <class T>
void retire_delete(T* p) {
  retire([p] { delete p; });
}

// Objects retired and not yet freed.
std::size_t pending();
// If more than `threshold` objects are pending and this thread is not in a
// read section: waits for a grace period and frees what was retired before.
void reclaim(std::size_t threshold = 0);
// Waits for a grace period and frees everything retired so far; must be
// called outside any read section (checked: aborts).
void barrier();

}  // namespace mmv::impl::rcu
