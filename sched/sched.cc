#include "sched/sched.h"

#include "testing/cli.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#if defined(__SANITIZE_THREAD__)
#define MMV_SCHED_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MMV_SCHED_TSAN 1
#endif
#endif

#if MMV_SCHED_TSAN
#include <sanitizer/tsan_interface.h>
#endif

// The scheduler's shared state is handed from thread to thread with the
// baton, which TSan must not see as synchronization (see sched.h): every
// function that touches it is left uninstrumented, and uses only plain
// data and raw arrays allocated before the threads start.
#define MMV_NO_TSAN __attribute__((no_sanitize("thread"), noinline))

namespace mmv::sched {

thread_local constinit bool detail::t_weak_memory = false;

namespace {

enum class Status : std::uint8_t { kRunnable, kBlocked, kFinished };

struct Slot {
  Status status = Status::kRunnable;
  const void* blocked_on = nullptr;
  const char* where = "start";  // the last point or block
  char held[160] = {};          // at the last block: the locks it held
};

// One choice point: who could run, who was running (-1: it could not go
// on), who was picked.
struct Choice {
  std::uint16_t runnable;
  std::int8_t prev;
  std::uint8_t pick;
};

constexpr int kMain = -2;
constexpr int kNobody = -3;

struct State {
  int n = 0;
  Slot slots[kMaxThreads];
  std::uint64_t steps = 0;
  std::uint64_t max_steps = 0;
  int preemptions = 0;
  Strategy strategy = Strategy::kRandom;
  std::uint64_t rng = 0;
  // pct
  int priority[kMaxThreads] = {};
  std::uint64_t change_at[kMaxDepth] = {};
  int changes = 0;
  // list
  const std::uint8_t* picks = nullptr;
  std::size_t npicks = 0;
  std::size_t next_pick = 0;
  // what happened
  Choice* record = nullptr;
  std::size_t nrecord = 0;
  std::size_t record_cap = 0;
  int ending = 0;  // 0 running, then 1 + RunResult::Ending
  char report[4096] = {};
  bool weak = false;  // Options::weak_memory
  std::uint64_t weak_choices = 0;
  std::uint64_t stale_reads = 0;
};

// The baton holds a token: the run's generation times 32 plus the thread's
// index, so a thread left blocked by an earlier run (a deadlock) never
// mistakes a later run's baton for its own. Each thread index sleeps on its
// own futex word, so a hand-over wakes only the thread it hands to.
std::atomic<int> g_turn{kNobody};
std::atomic<int> g_wake[kMaxThreads];
std::atomic<int> g_done{0};
int g_generation = 0;  // written by run() between runs only
State* g_state = nullptr;
thread_local int t_self = -1;
thread_local int t_token = -1;

int token(int generation, int thread) { return (generation % (1 << 20)) * 32 + thread; }

long futex(std::atomic<int>* addr, int op, int value) {
  return syscall(SYS_futex, reinterpret_cast<int*>(addr), op, value, nullptr, nullptr, 0);
}

// A full barrier TSan does not see (the futex system call is one too).
inline void fence() {
#if defined(__x86_64__)
  asm volatile("mfence" ::: "memory");
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

MMV_NO_TSAN std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

MMV_NO_TSAN void wait_for_turn() {
  const int mine = t_token;
  std::atomic<int>& word = g_wake[t_self];
  for (;;) {
    // Read the word before the baton: a hand-over in between changes the
    // word, and the wait then returns at once.
    const int seen = word.load(std::memory_order_relaxed);
    if (g_turn.load(std::memory_order_relaxed) == mine) break;
    futex(&word, FUTEX_WAIT_PRIVATE, seen);
  }
  fence();
}

MMV_NO_TSAN void hand_to(int next) {
  fence();
  g_turn.store(token(g_generation, next), std::memory_order_relaxed);
  g_wake[next].fetch_add(1, std::memory_order_relaxed);
  futex(&g_wake[next], FUTEX_WAKE_PRIVATE, INT_MAX);
}

// For a thread whose run has ended without it (a deadlock or the step
// limit): it never runs again.
[[noreturn]] MMV_NO_TSAN void park_forever() {
  std::atomic<int> never{0};
  for (;;) futex(&never, FUTEX_WAIT_PRIVATE, 0);
}

// The run is over (all finished, deadlock or step limit): wake the caller
// of run(), with a happens-before edge for the report in TSan builds (the
// run is over: there is nothing left to hide).
MMV_NO_TSAN void end_run(State& s, RunResult::Ending e) {
  s.ending = 1 + static_cast<int>(e);
  fence();
#if MMV_SCHED_TSAN
  __tsan_release(&g_done);
#endif
  g_done.store(1, std::memory_order_relaxed);
  futex(&g_done, FUTEX_WAKE_PRIVATE, INT_MAX);
}

// strncpy, but in uninstrumented code: libc's string functions are
// intercepted by TSan even when called from MMV_NO_TSAN functions, and a
// slot's text is written by one thread and read by another with no edge
// TSan can see. The empty asm keeps the compiler from turning the loop
// into a memcpy call.
MMV_NO_TSAN void copy_text(char* to, std::size_t cap, const char* from) {
  std::size_t i = 0;
  for (; i + 1 < cap && from[i]; ++i) {
    to[i] = from[i];
    asm volatile("" ::: "memory");
  }
  to[i] = 0;
}

MMV_NO_TSAN void write_report(State& s, const char* headline) {
  int used = std::snprintf(s.report, sizeof s.report, "%s after %llu steps:\n", headline,
                           static_cast<unsigned long long>(s.steps));
  for (int i = 0; i < s.n && used < static_cast<int>(sizeof s.report); ++i) {
    const Slot& t = s.slots[i];
    const char* status = t.status == Status::kFinished ? "finished" : t.status == Status::kBlocked ? "blocked" : "runnable";
    char held[sizeof t.held];
    copy_text(held, sizeof held, t.status == Status::kBlocked ? t.held : "");
    used += std::snprintf(s.report + used, sizeof s.report - used, "  thread %d: %s at %s (object %p)%s%s\n", i,
                          status, t.where, t.blocked_on, held[0] ? ", holding " : "", held);
  }
}

// The next thread to run, or -1 when none can. `me` is the thread at the
// point (-1: none, at the start), `me_can_go_on` whether it could continue.
MMV_NO_TSAN int pick(State& s, int me, bool me_can_go_on) {
  std::uint16_t mask = 0;
  int count = 0, only = -1;
  for (int i = 0; i < s.n; ++i) {
    if (s.slots[i].status == Status::kRunnable) {
      mask = static_cast<std::uint16_t>(mask | (1u << i));
      ++count;
      only = i;
    }
  }
  if (count == 0) return -1;
  if (count == 1) return only;
  const int prev = me_can_go_on ? me : -1;
  int next = -1;
  switch (s.strategy) {
    case Strategy::kRandom: {
      int k = static_cast<int>(splitmix(s.rng) % static_cast<std::uint64_t>(count));
      for (int i = 0; i < s.n; ++i)
        if ((mask >> i) & 1 && k-- == 0) next = i;
      break;
    }
    case Strategy::kPct: {
      for (int c = 0; c < s.changes; ++c)
        if (s.change_at[c] == s.steps && me >= 0) s.priority[me] = s.changes - 1 - c;  // lowest so far
      for (int i = 0; i < s.n; ++i)
        if ((mask >> i) & 1 && (next < 0 || s.priority[i] > s.priority[next])) next = i;
      break;
    }
    case Strategy::kList: {
      if (s.next_pick < s.npicks) {
        const int want = s.picks[s.next_pick++];
        if (want < s.n && (mask >> want) & 1) next = want;
      }
      // Past the list (or a pick that cannot run): go on without preempting.
      if (next < 0) next = prev >= 0 ? prev : __builtin_ctz(mask);
      break;
    }
  }
  if (prev >= 0 && next != prev) ++s.preemptions;
  if (s.nrecord < s.record_cap)
    s.record[s.nrecord++] = Choice{mask, static_cast<std::int8_t>(prev), static_cast<std::uint8_t>(next)};
  return next;
}

// The calling thread (me) cannot or will not go on for now: pass the baton
// to whoever the strategy picks, and wait for it to come back. If the run
// ends instead, a finished caller returns and any other never does.
MMV_NO_TSAN void reschedule(State& s, int me, bool me_can_go_on) {
  const int next = pick(s, me, me_can_go_on);
  if (next < 0) {
    bool blocked = false;
    for (int i = 0; i < s.n; ++i) blocked |= s.slots[i].status == Status::kBlocked;
    if (blocked) {
      write_report(s, "deadlock: no thread can run");
      end_run(s, RunResult::Ending::kDeadlock);
    } else {
      end_run(s, RunResult::Ending::kFinished);
    }
    if (s.slots[me].status == Status::kFinished) return;
    park_forever();
  }
  if (next == me) return;
  hand_to(next);
  if (s.slots[me].status == Status::kFinished) return;
  wait_for_turn();
}

MMV_NO_TSAN void at_point(const char* what) {
  State& s = *g_state;
  const int me = t_self;
  s.slots[me].where = what;
  if (++s.steps > s.max_steps) {
    write_report(s, "step limit reached (a livelock, or raise max_steps)");
    end_run(s, RunResult::Ending::kStepLimit);
    park_forever();
  }
  reschedule(s, me, true);
}

MMV_NO_TSAN void at_block(const void* obj, const char* what, const char* held) {
  State& s = *g_state;
  const int me = t_self;
  copy_text(s.slots[me].held, sizeof s.slots[me].held, held);
  s.slots[me].status = Status::kBlocked;
  s.slots[me].blocked_on = obj;
  s.slots[me].where = what;
  ++s.steps;
  reschedule(s, me, false);
}

MMV_NO_TSAN void at_release(const void* obj) {
  State& s = *g_state;
  for (int i = 0; i < s.n; ++i) {
    if (s.slots[i].status == Status::kBlocked && s.slots[i].blocked_on == obj) {
      s.slots[i].status = Status::kRunnable;
      s.slots[i].blocked_on = nullptr;
    }
  }
}

MMV_NO_TSAN void at_finish() {
  State& s = *g_state;
  const int me = t_self;
  s.slots[me].status = Status::kFinished;
  s.slots[me].where = "finished";
  reschedule(s, me, false);
}

// ---- Weak memory -------------------------------------------------------------
//
// Plain arrays, made once and touched only in uninstrumented functions (as
// the rest of the scheduler's state). An entry belongs to the run whose
// generation it carries; older ones are free, so a run starts with no
// history and no clearing.

using Clock = std::uint32_t[kMaxThreads];

struct WeakStore {
  std::uint64_t value;
  std::uint64_t seq;    // its place in the run's stores (modification order per location)
  std::int32_t tid;     // the storing thread
  std::uint32_t epoch;  // its clock entry at the store
  Clock rel;            // what an acquire that reads it comes to happen after
};

struct WeakLoc {
  const void* key;
  int generation;
  int count;  // stores kept, newest at (head - 1) mod kWeakHistory
  int head;
  WeakStore s[kWeakHistory];
  std::uint64_t seen[kMaxThreads];  // per thread: the seq of the newest store it read or wrote
};

struct WeakSync {
  const void* key;
  int generation;
  Clock clock;
};

constexpr std::size_t kWeakLocs = 1u << 14;
constexpr std::size_t kWeakSyncs = 1u << 12;

struct Weak {
  Clock clock[kMaxThreads];
  std::uint64_t next_seq;
  WeakLoc locs[kWeakLocs];
  WeakSync syncs[kWeakSyncs];
};
Weak* g_weak = nullptr;  // made by the first run with weak memory

// Copies and clears of the tables by plain loops: libc's memset and
// memcpy are intercepted by TSan even when called from MMV_NO_TSAN
// functions (see copy_text), and the empty asm keeps the compiler from
// turning a loop back into such a call.
MMV_NO_TSAN void clear_clock(Clock& c) {
  for (int i = 0; i < kMaxThreads; ++i) {
    c[i] = 0;
    asm volatile("" ::: "memory");
  }
}

MMV_NO_TSAN void copy_clock(Clock& into, const Clock& from) {
  for (int i = 0; i < kMaxThreads; ++i) {
    into[i] = from[i];
    asm volatile("" ::: "memory");
  }
}

MMV_NO_TSAN void reset_entry(WeakLoc& e) {
  e.count = 0;
  e.head = 0;
  for (int i = 0; i < kMaxThreads; ++i) {
    e.seen[i] = 0;
    asm volatile("" ::: "memory");
  }
}

MMV_NO_TSAN void reset_entry(WeakSync& e) { clear_clock(e.clock); }

MMV_NO_TSAN std::uint64_t larger(std::uint64_t a, std::uint64_t b) { return a > b ? a : b; }

MMV_NO_TSAN std::size_t hash_ptr(const void* p) {
  auto x = reinterpret_cast<std::uintptr_t>(p);
  x ^= x >> 17;
  x *= 0xed5ad4bbu;
  x ^= x >> 11;
  return static_cast<std::size_t>(x);
}

// The entry for key in this run (made empty if new), or null when full.
template <class Entry, std::size_t N>
MMV_NO_TSAN Entry* weak_entry(Entry (&table)[N], const void* key) {
  const int gen = g_generation;
  for (std::size_t i = hash_ptr(key) % N, probes = 0; probes < 64; i = (i + 1) % N, ++probes) {
    Entry& e = table[i];
    if (e.generation == gen && e.key == key) return &e;
    if (e.generation != gen) {
      reset_entry(e);
      e.key = key;
      e.generation = gen;
      return &e;
    }
  }
  return nullptr;  // no room: the caller treats the location as having no history
}

MMV_NO_TSAN void join(Clock& into, const Clock& from) {
  for (int i = 0; i < kMaxThreads; ++i) {
    if (from[i] > into[i]) into[i] = from[i];
    asm volatile("" ::: "memory");
  }
}

bool is_acquire(int order) {
  return order == static_cast<int>(std::memory_order_acquire) || order == static_cast<int>(std::memory_order_consume) ||
         order == static_cast<int>(std::memory_order_acq_rel) || order == static_cast<int>(std::memory_order_seq_cst);
}
bool is_release(int order) {
  return order == static_cast<int>(std::memory_order_release) || order == static_cast<int>(std::memory_order_acq_rel) ||
         order == static_cast<int>(std::memory_order_seq_cst);
}

// The k-th newest store kept for L (k = 0: the newest).
MMV_NO_TSAN WeakStore& nth_newest(WeakLoc& L, int k) {
  return L.s[(L.head - 1 - k + 2 * kWeakHistory) % kWeakHistory];
}

// A location's first store of the run (or of its object's life) keeps the
// value it replaces, as a store that happens before everything: the value
// the location held before the threads started, or that its constructor
// gave it.
// A new newest store of L holding value, the oldest kept one dropped when
// all kWeakHistory are in use.
MMV_NO_TSAN WeakStore& append(WeakLoc& L, std::uint64_t value) {
  WeakStore& st = L.s[L.head];
  L.head = (L.head + 1) % kWeakHistory;
  L.count = L.count < kWeakHistory ? L.count + 1 : kWeakHistory;
  st.value = value;
  st.seq = ++g_weak->next_seq;
  return st;
}

MMV_NO_TSAN void keep_initial(WeakLoc& L, std::uint64_t before) {
  if (L.count > 0) return;
  WeakStore& st = append(L, before);
  st.tid = 0;
  st.epoch = 0;  // every thread's clock has it
  clear_clock(st.rel);
}

MMV_NO_TSAN void push_store(WeakLoc& L, int me, std::uint64_t value, const Clock* rel) {
  Weak& w = *g_weak;
  WeakStore& st = append(L, value);
  st.tid = me;
  st.epoch = ++w.clock[me][me];
  if (rel) copy_clock(st.rel, *rel);
  else clear_clock(st.rel);
  L.seen[me] = st.seq;
}

// Which of n candidate stores a load reads: 0 is the newest. Recorded as a
// choice of the schedule, with 0 as the choice that is no preemption.
MMV_NO_TSAN int choose_value(State& s, int n) {
  const auto mask = static_cast<std::uint16_t>((1u << n) - 1);
  int k = 0;
  switch (s.strategy) {
    case Strategy::kRandom:
    case Strategy::kPct:
      // Half the time the newest; otherwise any older one.
      if (splitmix(s.rng) % 2) k = 1 + static_cast<int>(splitmix(s.rng) % static_cast<std::uint64_t>(n - 1));
      break;
    case Strategy::kList:
      if (s.next_pick < s.npicks) {
        const int want = s.picks[s.next_pick++];
        if (want < n) k = want;
      }
      break;
  }
  ++s.weak_choices;
  if (k != 0) {
    ++s.preemptions;
    ++s.stale_reads;
  }
  if (s.nrecord < s.record_cap) s.record[s.nrecord++] = Choice{mask, 0, static_cast<std::uint8_t>(k)};
  return k;
}

MMV_NO_TSAN std::uint64_t at_weak_load(const void* loc, std::uint64_t newest, int order) {
  State& s = *g_state;
  Weak& w = *g_weak;
  const int me = t_self;
  WeakLoc* L = weak_entry(w.locs, loc);
  // No history, or one the location's memory no longer matches (written
  // around the wrapper): the newest value is all there is.
  if (!L || L->count == 0 || nth_newest(*L, 0).value != newest) {
    if (L) L->count = 0;
    return newest;
  }
  // Candidates, newest first, down to the newest store this load cannot
  // read past: one that happens before it, or that it has seen.
  int n = 0;
  while (n < L->count) {
    const WeakStore& st = nth_newest(*L, n++);
    if (st.epoch <= w.clock[me][st.tid] || st.seq <= L->seen[me]) break;
  }
  if (order == static_cast<int>(std::memory_order_seq_cst)) n = 1;
  const int k = n > 1 ? choose_value(s, n) : 0;
  const WeakStore& st = nth_newest(*L, k);
  L->seen[me] = larger(L->seen[me], st.seq);
  if (is_acquire(order)) join(w.clock[me], st.rel);
  return st.value;
}

// The location a store or read-modify-write goes to, its history made
// consistent with `before`, the value it replaces: started with it, or
// started again if the memory was written around the wrapper.
MMV_NO_TSAN WeakLoc* store_target(const void* loc, std::uint64_t before) {
  WeakLoc* L = weak_entry(g_weak->locs, loc);
  if (!L) return nullptr;
  if (L->count > 0 && nth_newest(*L, 0).value != before) L->count = 0;
  keep_initial(*L, before);
  return L;
}

MMV_NO_TSAN void at_weak_store(const void* loc, std::uint64_t before, std::uint64_t value, int order) {
  Weak& w = *g_weak;
  const int me = t_self;
  WeakLoc* L = store_target(loc, before);
  if (!L) return;
  // A release store carries this thread's clock; a relaxed one nothing (a
  // release sequence continues only through read-modify-writes).
  Clock rel;
  copy_clock(rel, w.clock[me]);
  rel[me] = w.clock[me][me] + 1;  // the store's own epoch
  push_store(*L, me, value, is_release(order) ? &rel : nullptr);
}

MMV_NO_TSAN void at_weak_rmw(const void* loc, std::uint64_t before, std::uint64_t value, int order, bool failed) {
  Weak& w = *g_weak;
  const int me = t_self;
  WeakLoc* L = store_target(loc, before);
  if (!L) return;
  // It reads the newest store.
  Clock rel;
  const WeakStore& prev = nth_newest(*L, 0);
  if (is_acquire(order)) join(w.clock[me], prev.rel);
  L->seen[me] = larger(L->seen[me], prev.seq);
  copy_clock(rel, prev.rel);  // the release sequence goes on through it
  if (failed) return;
  if (is_release(order)) {
    join(rel, w.clock[me]);
    rel[me] = w.clock[me][me] + 1;
  }
  push_store(*L, me, value, &rel);
}

MMV_NO_TSAN void at_weak_forget(const void* loc) {
  if (WeakLoc* L = weak_entry(g_weak->locs, loc)) L->count = 0;
}

MMV_NO_TSAN void at_weak_release(const void* obj) {
  Weak& w = *g_weak;
  const int me = t_self;
  if (WeakSync* y = weak_entry(w.syncs, obj)) join(y->clock, w.clock[me]);
  ++w.clock[me][me];
}

MMV_NO_TSAN void at_weak_acquire(const void* obj) {
  Weak& w = *g_weak;
  if (WeakSync* y = weak_entry(w.syncs, obj)) join(w.clock[t_self], y->clock);
}

MMV_NO_TSAN void weak_start(int n) {
  // Made and cleared before the threads start: thread creation orders it.
  if (!g_weak) g_weak = new Weak();
  Weak& w = *g_weak;
  for (int i = 0; i < kMaxThreads; ++i) clear_clock(w.clock[i]);
  for (int i = 0; i < n; ++i) w.clock[i][i] = 1;
  w.next_seq = 0;
}

MMV_NO_TSAN void start(State& s) {
  const int first = pick(s, -1, false);
  hand_to(first);
}

MMV_NO_TSAN void wait_end() {
  for (int d = g_done.load(std::memory_order_relaxed); d == 0; d = g_done.load(std::memory_order_relaxed))
    futex(&g_done, FUTEX_WAIT_PRIVATE, 0);
  fence();
#if MMV_SCHED_TSAN
  __tsan_acquire(&g_done);
#endif
}

std::string runs_text(const std::vector<std::uint8_t>& picks) {
  std::string out;
  for (std::size_t i = 0; i < picks.size();) {
    std::size_t j = i;
    while (j < picks.size() && picks[j] == picks[i]) ++j;
    if (!out.empty()) out += '.';
    out += std::to_string(picks[i]);
    if (j - i > 1) out += "*" + std::to_string(j - i);
    i = j;
  }
  return out;
}

std::atomic<HeldLocksFn> g_held_hook{nullptr};

}  // namespace

bool active() { return t_self >= 0; }

void point(const char* what) {
  if (t_self >= 0) at_point(what);
}

void block_on(const void* obj, const char* what) {
  if (t_self < 0) return;
  // Asked here, on the blocking thread, where its held-lock list is its
  // own: the report is written by whichever thread finds the deadlock.
  char held[sizeof Slot::held] = "";
  if (const HeldLocksFn fn = g_held_hook.load(std::memory_order_relaxed)) fn(obj, held, sizeof held);
  at_block(obj, what, held);
}

void set_held_locks_hook(HeldLocksFn fn) { g_held_hook.store(fn, std::memory_order_relaxed); }

void released(const void* obj) {
  if (t_self < 0) return;
  if (g_state->weak) at_weak_release(obj);
  at_release(obj);
}

void acquired(const void* obj) {
  if (t_self >= 0 && g_state->weak) at_weak_acquire(obj);
}


std::uint64_t weak_load(const void* loc, std::uint64_t newest, int order) {
  return weak_active() ? at_weak_load(loc, newest, order) : newest;
}

void weak_store(const void* loc, std::uint64_t before, std::uint64_t value, int order) {
  if (weak_active()) at_weak_store(loc, before, value, order);
}

void weak_rmw(const void* loc, std::uint64_t before, std::uint64_t value, int order, bool failed) {
  if (weak_active()) at_weak_rmw(loc, before, value, order, failed);
}

void weak_forget(const void* loc) {
  if (weak_active()) at_weak_forget(loc);
}

const char* ending_name(RunResult::Ending e) {
  switch (e) {
    case RunResult::Ending::kFinished: return "finished";
    case RunResult::Ending::kDeadlock: return "deadlock";
    case RunResult::Ending::kStepLimit: return "step limit";
  }
  return "?";
}

std::string Schedule::to_string() const {
  switch (strategy) {
    case Strategy::kRandom: return "random:seed=" + std::to_string(seed);
    case Strategy::kPct:
      return "pct:seed=" + std::to_string(seed) + ",depth=" + std::to_string(depth) + ",k=" + std::to_string(k);
    case Strategy::kList: return "list:" + runs_text(picks);
  }
  return "?";
}

namespace {
std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = text.find(sep, i);
    if (j == std::string_view::npos) j = text.size();
    out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}
}  // namespace

// Far more picks than any run's max_steps: 16 MiB of list.
constexpr std::uint64_t kMaxListPicks = std::uint64_t{1} << 24;

std::optional<Schedule> Schedule::parse(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<Schedule> {
    if (error) *error = "bad schedule '" + std::string(text) + "': " + why;
    return std::nullopt;
  };
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return fail("expected random:..., pct:... or list:...");
  const std::string_view kind = text.substr(0, colon), rest = text.substr(colon + 1);
  Schedule s;
  // Digits only, and no wrap-around on overflow.
  auto number = [](std::string_view v, std::uint64_t& out) {
    const std::optional<std::uint64_t> n = cli::parse_uint("", v, 0, cli::kU64Max).value;
    out = n.value_or(0);
    return n.has_value();
  };
  if (kind == "list") {
    s.strategy = Strategy::kList;
    for (const std::string_view item : split(rest, '.')) {
      const std::size_t star = item.find('*');
      std::uint64_t thread = 0, times = 1;
      if (!number(item.substr(0, star), thread) || thread >= kMaxThreads ||
          (star != std::string_view::npos && (!number(item.substr(star + 1), times) || times == 0)))
        return fail("'" + std::string(item) + "' is not THREAD or THREAD*COUNT (THREAD below " +
                    std::to_string(kMaxThreads) + ")");
      // A typo'd count must not become a gigabytes-long list.
      if (times > kMaxListPicks - s.picks.size())
        return fail("more than " + std::to_string(kMaxListPicks) + " picks");
      s.picks.insert(s.picks.end(), times, static_cast<std::uint8_t>(thread));
    }
    return s;
  }
  if (kind != "random" && kind != "pct") return fail("unknown strategy '" + std::string(kind) + "'");
  s.strategy = kind == "random" ? Strategy::kRandom : Strategy::kPct;
  // What the item should have been.
  const std::string allowed = s.strategy == Strategy::kPct ? "seed=N, depth=D (1 to " + std::to_string(kMaxDepth) +
                                                                 ") or k=N (N >= 1), N an unsigned 64-bit decimal"
                                                           : "seed=N, N an unsigned 64-bit decimal";
  for (const std::string_view item : split(rest, ',')) {
    const std::size_t eq = item.find('=');
    std::uint64_t v = 0;
    const bool valued = eq != std::string_view::npos && number(item.substr(eq + 1), v);
    const std::string_view key = valued ? item.substr(0, eq) : std::string_view();
    if (key == "seed") s.seed = v;
    else if (key == "depth" && s.strategy == Strategy::kPct && v >= 1 && v <= kMaxDepth) s.depth = static_cast<int>(v);
    else if (key == "k" && s.strategy == Strategy::kPct && v >= 1) s.k = v;
    else return fail("'" + std::string(item) + "' is not " + allowed);
  }
  return s;
}

namespace {

struct Recorded {
  RunResult result;
  std::vector<Choice> choices;
};

Recorded run_recorded(int threads, const std::function<void(int)>& body, const Options& options) {
  const int n = std::clamp(threads, 1, kMaxThreads);
  auto state = std::make_unique<State>();
  State& s = *state;
  s.n = n;
  s.max_steps = options.max_steps;
  const Schedule& sch = options.schedule;
  s.strategy = sch.strategy;
  s.rng = sch.seed;
  if (sch.strategy == Strategy::kPct) {
    // Distinct initial priorities d .. d + n - 1 in random order; change
    // points at d - 1 random steps in [1, k], lowering the running thread
    // to priorities d - 2 .. 0.
    int order[kMaxThreads];
    for (int i = 0; i < n; ++i) order[i] = i;
    for (int i = n - 1; i > 0; --i) std::swap(order[i], order[splitmix(s.rng) % static_cast<std::uint64_t>(i + 1)]);
    for (int i = 0; i < n; ++i) s.priority[order[i]] = sch.depth + i;
    s.changes = std::min(sch.depth - 1, kMaxDepth - 1);
    for (int c = 0; c < s.changes; ++c) s.change_at[c] = 1 + splitmix(s.rng) % sch.k;
  }
  s.picks = sch.picks.data();
  s.npicks = sch.picks.size();
  s.weak = options.weak_memory;
  // Not value-initialised: a run writes only the choices it makes, and
  // only the pages it touches are ever mapped in.
  std::unique_ptr<Choice[]> record(new Choice[options.max_steps + 2]);
  s.record = record.get();
  s.record_cap = options.max_steps + 2;

  g_state = &s;
  ++g_generation;
  const int generation = g_generation;
  if (s.weak) weak_start(n);
  g_turn.store(kNobody, std::memory_order_relaxed);
  g_done.store(0, std::memory_order_relaxed);
  // Each thread holds its own copy of the body: a deadlocked thread keeps
  // it for ever, and must not point into this frame once it is gone.
  auto shared_body = std::make_shared<const std::function<void(int)>>(body);
  std::vector<std::thread> workers;
  workers.reserve(n);
  for (int i = 0; i < n; ++i) {
    workers.emplace_back([i, generation, shared_body, weak = s.weak] {
      t_self = i;
      t_token = token(generation, i);
      detail::t_weak_memory = weak;
      wait_for_turn();
      (*shared_body)(i);
      detail::t_weak_memory = false;
      at_finish();
      t_self = -1;
      t_token = -1;
    });
  }
  start(s);
  wait_end();

  Recorded out;
  out.result.ending = static_cast<RunResult::Ending>(s.ending - 1);
  if (out.result.ending == RunResult::Ending::kFinished) {
    for (auto& w : workers) w.join();
  } else {
    // Those threads stay blocked for ever; the caller reports and exits.
    for (auto& w : workers) w.detach();
    out.result.report = s.report;
    (void)state.release();
    (void)record.release();
  }
  g_turn.store(kMain, std::memory_order_relaxed);
  out.result.steps = s.steps;
  out.result.preemptions = s.preemptions;
  out.result.weak_choices = s.weak_choices;
  out.result.stale_reads = s.stale_reads;
  out.choices.assign(s.record, s.record + s.nrecord);
  out.result.replay.strategy = Strategy::kList;
  for (const Choice& c : out.choices) {
    out.result.replay.picks.push_back(c.pick);
    out.result.runnable.push_back(c.runnable);
    out.result.prev.push_back(c.prev);
  }
  return out;
}

}  // namespace

RunResult run(int threads, const std::function<void(int)>& body, const Options& options) {
  return run_recorded(threads, body, options).result;
}

ExploreResult explore(const Runner& runner, int preemption_bound, std::uint64_t max_schedules) {
  struct Node {
    std::uint16_t runnable;
    std::int8_t prev;
    std::uint8_t pick;
    std::uint16_t tried;
  };
  std::vector<Node> stack;
  ExploreResult out;
  Schedule schedule;
  schedule.strategy = Strategy::kList;
  while (out.schedules < max_schedules) {
    schedule.picks.clear();
    for (const Node& n : stack) schedule.picks.push_back(n.pick);
    Trial t = runner(schedule);
    ++out.schedules;
    const RunResult& r = t.run;
    for (std::size_t i = stack.size(); i < r.replay.picks.size(); ++i)
      stack.push_back({r.runnable[i], r.prev[i], r.replay.picks[i], static_cast<std::uint16_t>(1u << r.replay.picks[i])});
    if (t.failed || r.ending != RunResult::Ending::kFinished) {
      out.failure = std::move(t.run);
      return out;
    }
    // Backtrack to the deepest choice with an untried pick within the bound.
    bool found = false;
    while (!stack.empty() && !found) {
      int used = 0;
      for (std::size_t i = 0; i + 1 < stack.size(); ++i) used += stack[i].prev >= 0 && stack[i].pick != stack[i].prev;
      Node& n = stack.back();
      for (int th = 0; th < kMaxThreads && !found; ++th) {
        const std::uint16_t bit = static_cast<std::uint16_t>(1u << th);
        if (!(n.runnable & bit) || (n.tried & bit)) continue;
        n.tried = static_cast<std::uint16_t>(n.tried | bit);
        if (used + (n.prev >= 0 && th != n.prev) > preemption_bound) continue;
        n.pick = static_cast<std::uint8_t>(th);
        found = true;
      }
      if (!found) stack.pop_back();
    }
    if (!found) {
      out.exhausted = true;
      return out;
    }
  }
  return out;
}

namespace {
Runner body_runner(int threads, const std::function<void(int)>& body,
                   const std::function<bool(const RunResult&)>& failed, std::uint64_t max_steps) {
  return [=](const Schedule& s) {
    Options o;
    o.schedule = s;
    o.max_steps = max_steps;
    Trial t;
    t.run = run(threads, body, o);
    t.failed = failed(t.run);
    return t;
  };
}
}  // namespace

ExploreResult explore(int threads, const std::function<void(int)>& body,
                      const std::function<bool(const RunResult&)>& failed, int preemption_bound,
                      std::uint64_t max_schedules, std::uint64_t max_steps) {
  return explore(body_runner(threads, body, failed, max_steps), preemption_bound, max_schedules);
}

Schedule shrink(const Runner& runner, const Schedule& failing, int max_tries) {
  Trial best = runner(failing);
  if (!best.failed && best.run.ending == RunResult::Ending::kFinished) return failing;
  int tries = 0;
  bool improved = true;
  while (improved && tries < max_tries) {
    improved = false;
    const Schedule& picks = best.run.replay;
    for (std::size_t j = 0; j < picks.picks.size() && tries < max_tries && !improved; ++j) {
      const int prev = best.run.prev[j];
      if (prev < 0 || picks.picks[j] == prev) continue;  // not a preemption
      // Two candidates without this preemption: stop preempting from here
      // on (the list ends: the rest runs without preemptions), or only not
      // here (the list falls back to not preempting where its later picks
      // no longer fit).
      Schedule cut = picks;
      cut.picks.resize(j);
      cut.picks.push_back(static_cast<std::uint8_t>(prev));
      Schedule skip = picks;
      skip.picks[j] = static_cast<std::uint8_t>(prev);
      for (const Schedule* candidate : {&cut, &skip}) {
        Trial t = runner(*candidate);
        ++tries;
        const bool fails = t.failed || t.run.ending != RunResult::Ending::kFinished;
        if (fails && t.run.preemptions < best.run.preemptions) {
          best = std::move(t);
          improved = true;
          break;
        }
      }
    }
  }
  return best.run.replay;
}

Schedule shrink(int threads, const std::function<void(int)>& body, const Schedule& failing,
                const std::function<bool(const RunResult&)>& failed, int max_tries, std::uint64_t max_steps) {
  return shrink(body_runner(threads, body, failed, max_steps), failing, max_tries);
}

}  // namespace mmv::sched
