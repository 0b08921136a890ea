#include "impl/lockdep.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <cstring>
#include <vector>

#include "testing/cli.h"

#if MMV_SCHED
#include "sched/sched.h"
#endif

namespace mmv::impl::lockdep {
namespace {

void default_report(const std::string& report) {
  std::fprintf(stderr, "lockdep: %s\n", report.c_str());
  std::abort();
}

std::atomic<ReportHandler> g_handler{&default_report};

}  // namespace

const char* class_name(LockClass c) {
  switch (c) {
    case LockClass::kWriteback: return "writeback";
    case LockClass::kMmap: return "mmap";
    case LockClass::kVma: return "vma";
    case LockClass::kFileMappings: return "file_mappings";
    case LockClass::kPageTableLock: return "page_table_lock";
    case LockClass::kPmd: return "pmd";
    case LockClass::kPte: return "pte";
    case LockClass::kPageCache: return "page_cache";
    case LockClass::kTlb: return "tlb";
    case LockClass::kWorkQueue: return "work_queue";
  }
  return "?";
}

ReportHandler set_report_handler(ReportHandler h) { return g_handler.exchange(h); }

#if MMV_LOCKDEP
namespace {

struct Held {
  LockClass cls;
  const void* lock;
};

thread_local std::vector<Held> t_held;

// Classes of which one thread may hold two: VMA read locks are only ever
// try-locked by readers, and a writer marks several VMAs in turn (each
// taken and dropped at once), so two VMA locks never wait on each other.
bool may_nest(LockClass c) { return c == LockClass::kVma; }

void report(const std::string& what) {
  g_handler.load()(what + "; held by this thread: " + held_text());
}

std::string hex(const void* p) {
  char b[32];
  std::snprintf(b, sizeof b, "%p", p);
  return b;
}

// MMV_LOCKDEP: on (the default) or off; anything else is refused (exit 2),
// so that MMV_LOCKDEP=0 does not leave the checks on behind the user's back.
bool checking() {
  static const bool on = [] {
    const char* v = cli::env("MMV_LOCKDEP");
    return !v || cli::or_exit(cli::parse_choice("MMV_LOCKDEP", v, {"on", "off"})) == "on";
  }();
  return on;
}
// Read before main, on the only thread there is: a bad value ends the
// process there, not inside the first lock some worker takes.
[[maybe_unused]] const bool g_env_read = checking();

#if MMV_SCHED
// The blocking thread's locks. lockdep records a lock when the thread asks
// for it, so the one it waits for is on the list too: marked "acquiring"
// (the wrappers block on their first member, whose address is the lock's).
void held_for_sched(const void* waiting_for, char* buf, std::size_t cap) {
  std::string held, acquiring;
  for (const Held& h : t_held) {
    std::string& to = h.lock == waiting_for ? acquiring : held;
    to += (to.empty() ? "" : " ") + std::string(class_name(h.cls)) + '@' + hex(h.lock);
  }
  if (held.empty() && acquiring.empty()) {
    buf[0] = 0;
    return;
  }
  std::snprintf(buf, cap, "%s%s%s", held.empty() ? "nothing" : held.c_str(),
                acquiring.empty() ? "" : ", acquiring ", acquiring.c_str());
}
[[maybe_unused]] const bool g_sched_hook = (sched::set_held_locks_hook(&held_for_sched), true);
#endif

}  // namespace

void acquire(LockClass c, const void* lock, bool trylock) {
  if (!trylock && checking()) {
    for (const Held& h : t_held) {
      if (h.lock == lock) {
        report(std::string("recursive acquire of ") + class_name(c) + " lock");
        break;
      }
      if (h.cls > c) {
        report(std::string("lock order inversion: ") + class_name(c) +
               " taken while holding " + class_name(h.cls));
        break;
      }
      if (h.cls == c && !may_nest(c)) {
        report(std::string("two ") + class_name(c) + " locks nested");
        break;
      }
    }
  }
  t_held.push_back({c, lock});
}

void release(LockClass c, const void* lock) {
  for (auto it = t_held.rbegin(); it != t_held.rend(); ++it) {
    if (it->cls == c && it->lock == lock) {
      t_held.erase(std::next(it).base());
      return;
    }
  }
  report(std::string("release of a ") + class_name(c) +
         " lock this thread does not hold (released on another thread?)");
}

int held_count() { return static_cast<int>(t_held.size()); }

std::string held_text() {
  std::ostringstream os;
  for (const Held& h : t_held) os << (&h == &t_held.front() ? "" : " ") << class_name(h.cls) << '@' << h.lock;
  return os.str();
}
#endif

}  // namespace mmv::impl::lockdep
