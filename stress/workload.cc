#include "stress/workload.h"

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <cstdlib>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "impl/fault_switch.h"
#include "impl/kernel.h"
#include "impl/mm.h"
#include "impl/rcu.h"
#include "stress/remap_check.h"
#include "stress/zap_spec.h"
#include "stress/zap_workload.h"
#include "testing/impl_runner.h"
#include "testing/model_runner.h"

namespace mmv::stress {
namespace {

using Clock = std::chrono::steady_clock;
constexpr Addr kP = kPageSize;

// ---- scaffolding -----------------------------------------------------------

// MMV_FAULT=<fault_name> switches that fault on for one workload run
// (impl::fault_from_env_or_exit: an unknown name ends the process).
class EnvFault {
 public:
  EnvFault() {
    [[maybe_unused]] const std::optional<impl::Fault> f = impl::fault_from_env_or_exit();
#if MMV_FAULTS
    if (f) fault_.emplace(*f);
#endif
  }

 private:
#if MMV_FAULTS
  std::optional<impl::ScopedFault> fault_;
#endif
};

// The Kernel's worker for a run of cfg: under a schedule, a scheduled
// thread of run_threads() (pass the Kernel as its `worker`).
impl::Kernel::Worker kernel_worker(const StressConfig& cfg) {
  return cfg.schedule ? impl::Kernel::Worker::kCallerServes : impl::Kernel::Worker::kOwnThread;
}

std::mt19937_64 thread_rng(std::uint64_t seed, int t) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(t), 0x5eedu};
  return std::mt19937_64(seq);
}

// Runs body(t, rng, keep_going) on cfg.threads threads started together;
// keep_going(i) says whether op i may start (ops and time bound). Sets
// rep.seconds, the wall time of the concurrent phase. Under a schedule the
// threads run under the controlled scheduler, bounded by ops only; with
// `worker` (a Kernel made with kernel_worker(cfg)), one more scheduled
// thread, the last, serves its queued work (mmput_async's teardowns) until
// the others have finished.
template <class Body>
void run_threads(const StressConfig& cfg, StressReport& rep, Body body, impl::Kernel* worker = nullptr) {
  const int n = std::max(1, cfg.threads);
  if (cfg.schedule) {
    sched::Options options;
    options.schedule = *cfg.schedule;
    options.max_steps = cfg.max_steps;
    options.weak_memory = cfg.weak_memory;
    const auto t0 = Clock::now();
    std::atomic<int> finished{0};
    const sched::RunResult r = sched::run(
        worker ? n + 1 : n,
        [&](int t) {
          if (t == n) {
            worker->serve_work_until([&] { return finished.load(std::memory_order_relaxed) == n; });
          } else {
            std::mt19937_64 rng = thread_rng(cfg.seed, t);
            auto keep_going = [&](int i) { return i < cfg.ops_per_thread; };
            body(t, rng, keep_going);
          }
          // Inside the schedule, not at thread exit (impl/rcu.h).
          impl::rcu::unregister_thread();
          if (t < n && worker) {
            finished.fetch_add(1, std::memory_order_relaxed);
            worker->wake_server();
          }
        },
        options);
    rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rep.schedule = r.replay.to_string();
    rep.sched_run = r;
    if (r.ending != sched::RunResult::Ending::kFinished) {
      // The report names the ending ("deadlock: ...", "step limit ...").
      std::printf("%s\n%s\nschedule: %s\nverdict=FAIL\n", failure_banner(cfg).c_str(), r.report.c_str(),
                  rep.schedule.c_str());
      if (cfg.on_sched_abort) cfg.on_sched_abort(rep.schedule);
      std::fflush(stdout);
      std::_Exit(1);
    }
    return;
  }
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.seconds));
  std::latch start(n + 1);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng = thread_rng(cfg.seed, t);
      auto keep_going = [&](int i) {
        return i < cfg.ops_per_thread && ((i & 15) != 0 || Clock::now() < deadline);
      };
      start.arrive_and_wait();
      body(t, rng, keep_going);
    });
  }
  const auto t0 = Clock::now();
  start.arrive_and_wait();
  for (auto& th : threads) th.join();
  rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
}

// Threads for checking work whose parts are independent, one per core
// (the caller's included), started once: a zap round's checking is a
// fraction of a millisecond, about what starting a thread costs.
//
// Thread safety: run() may be called from one thread at a time (the
// workloads run one after another); the helpers only run tasks of the
// current run().
class CheckPool {
 public:
  static CheckPool& get() {
    static CheckPool pool(std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
    return pool;
  }
  int workers() const { return static_cast<int>(helpers_.size()) + 1; }

  // Runs task(i, w) for i = 0, ..., n - 1, each once, w being the index of
  // the worker that runs it (0: the caller); returns when all have run.
  void run(int n, const std::function<void(int, int)>& task) {
    {
      std::lock_guard<std::mutex> l(mu_);
      task_ = &task;
      n_ = n;
      next_ = 0;
      busy_ = static_cast<int>(helpers_.size());
      ++generation_;
    }
    wake_.notify_all();
    work(task, n, 0);
    std::unique_lock<std::mutex> l(mu_);
    done_.wait(l, [&] { return busy_ == 0; });
    task_ = nullptr;
  }

  ~CheckPool() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& h : helpers_) h.join();
  }

 private:
  explicit CheckPool(int workers) {
    for (int w = 1; w < workers; ++w) helpers_.emplace_back([this, w] { helper(w); });
  }
  void work(const std::function<void(int, int)>& task, int n, int w) {
    for (int i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) task(i, w);
  }
  void helper(int w) {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      wake_.wait(l, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      const std::function<void(int, int)>* task = task_;
      const int n = n_;
      l.unlock();
      work(*task, n, w);
      l.lock();
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int, int)>* task_ = nullptr;  // guarded by mu_
  int n_ = 0;                                            // guarded by mu_
  int busy_ = 0;                                         // helpers still in this run; guarded by mu_
  std::uint64_t generation_ = 0;                         // guarded by mu_
  bool stop_ = false;                                    // guarded by mu_
  std::atomic<int> next_{0};
  std::vector<std::thread> helpers_;
};

std::string hex(Addr a) {
  std::ostringstream os;
  os << "0x" << std::hex << a;
  return os.str();
}

std::string join_lines(const std::vector<std::string>& v, std::size_t max = 10) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) s += "  " + v[i] + "\n";
  if (v.size() > max) s += "  ... (" + std::to_string(v.size() - max) + " more)\n";
  return s;
}

// Records a failure; an empty `what` is none.
void fail(StressReport& r, const std::string& what) {
  if (what.empty()) return;
  r.ok = false;
  r.explanation += what;
  if (!what.empty() && what.back() != '\n') r.explanation += '\n';
}

}  // namespace

std::string failure_banner(const StressConfig& cfg) {
  return "stress failure: seed=" + std::to_string(cfg.seed) + " threads=" + std::to_string(cfg.threads);
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

namespace {

// Byte (file page, offset) -> the value the last successful write to it
// stored: each thread's operations are in program order, and its own bytes
// are written by no one else, so this is independent of any model.
using LastWrites = std::map<std::pair<std::uint64_t, std::uint32_t>, std::uint8_t>;
LastWrites last_file_writes(const std::vector<std::vector<std::vector<Operation>>>& recorded) {
  LastWrites last;
  for (const auto& t : recorded) {
    for (int p = 0; p < kNumZapVmas; ++p) {
      if (kZapVmas[p].kind != ZapKind::kFile) continue;
      for (const Operation& op : t[p]) {
        if (op.input.op != cmd::Op::kWrite || op.output != "ok") continue;
        const Addr off = op.input.addr - kZapVmas[p].start;
        last[{kZapVmas[p].pgoff + off / kP, static_cast<std::uint32_t>(off % kP)}] = op.input.value;
      }
    }
  }
  return last;
}

// The zap workload's checks of the implementation alone, after the
// concurrent phase: invariants, then writeback of file 0, invariants again,
// and no lost write. Returns the failures, one per line.
std::string check_zap_impl(cmd::ImplRunner& impl, const LastWrites& last, const cmd::Command& writeback) {
  std::string out;
  if (auto inv = impl.check_invariants(); !inv.empty()) out += "invariants:\n" + join_lines(inv);
  if (auto bugs = impl.kernel().bugs(); !bugs.empty()) out += "kernel bugs:\n" + join_lines(bugs);
  impl.apply(writeback);
  if (auto inv = impl.check_invariants(); !inv.empty()) out += "invariants after writeback:\n" + join_lines(inv);
  const FileId file = impl.kernel().file_ids().at(0);
  for (const auto& [where, value] : last) {
    const std::uint8_t got = impl.kernel().disk_page(file, where.first).get(where.second);
    if (got != value) {
      out += "lost write: file page " + std::to_string(where.first) + " byte " + std::to_string(where.second) +
             " is " + std::to_string(got) + ", last written " + std::to_string(value) + "\n";
      break;
    }
  }
  return out;
}

}  // namespace

StressReport run_zap(const StressConfig& cfg) {
  EnvFault env_fault;
  StressReport rep;
  cmd::ImplRunner impl;
  cmd::ModelRunner model;
  for (const cmd::Command& c : zap_setup()) {
    const std::string a = impl.apply(c), b = model.apply(c);
    if (a != b) fail(rep, "setup " + cmd::to_string(c) + ": impl " + a + ", model " + b);
  }
  if (!rep.ok) return rep;

  const int n = std::max(1, cfg.threads);
  // Each thread records each VMA's operations apart: those are the parts
  // the history is checked in.
  std::vector<std::vector<std::vector<Operation>>> recorded(n, std::vector<std::vector<Operation>>(kNumZapVmas));
  std::vector<std::uint64_t> commands(n, 0);  // what each thread ran (a history may hold more: zap_pieces)
  run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
    std::vector<std::vector<Operation>>& out = recorded[t];
    for (auto& v : out) v.reserve(2 * cfg.ops_per_thread / kNumZapVmas + 16);
    int i = 0;
    for (; keep_going(i); ++i) {
      Operation op;
      op.client = t;
      op.input = zap_command(t, rng);
      op.call = now_ns();
      op.output = impl.apply(op.input);
      op.ret = now_ns();
      append_recorded(out[zap_vma_of(op.input)], op);
    }
    commands[t] = static_cast<std::uint64_t>(i);
  });

  const auto checking_from = Clock::now();
  for (const std::uint64_t c : commands) rep.ops += c;
  // Checked on every core, in independent tasks: the implementation on its
  // own (invariants, writeback, invariants again, no lost write), and each
  // VMA's history (the parts are independent). A part is searched with the
  // VMA's small specification (stress/zap_spec.h), but the reference model
  // has the last word: the witness order is replayed through it and must
  // give every recorded outcome, and a history ZapSpec rejects is checked
  // again against it. The replayed model's written-back file pages are
  // what the implementation's must equal.
  struct PartCheck {
    std::vector<Operation> history;  // in each thread's program order
    std::string failure;
    std::string note;
    int replayed_by = -1;  // the worker whose model replayed it, when it was checked completely
  };
  // One reference model per worker, the parts it checked replayed into it
  // one after the other (they are independent): set on first use, reset
  // when a replay fails.
  struct Replay {
    std::optional<cmd::ModelRunner> model;
    bool clean = true;
  };
  std::vector<PartCheck> checks(kNumZapVmas);
  // The largest tasks first, for balance: anonymous VMAs have the most
  // pages, driver VMAs the fewest.
  std::vector<int> by_cost(kNumZapVmas);
  for (int p = 0; p < kNumZapVmas; ++p) by_cost[p] = p;
  std::stable_sort(by_cost.begin(), by_cost.end(),
                   [](int a, int b) { return kZapVmas[a].kind < kZapVmas[b].kind; });
  CheckPool& pool = CheckPool::get();
  std::vector<Replay> replays(pool.workers());
  std::string impl_failures;
  const LastWrites last = last_file_writes(recorded);
  const std::vector<PageBytes> file = cmd::file_contents(cmd::kFiles[0]);
  cmd::Command wb;
  wb.op = cmd::Op::kWriteback;
  wb.slot = 0;
  pool.run(kNumZapVmas + 1, [&](int task, int worker) {
    if (task == 0) {
      impl_failures = check_zap_impl(impl, last, wb);
      return;
    }
    const int p = by_cost[task - 1];
    PartCheck& out = checks[p];
    std::size_t size = 0;
    for (const auto& t : recorded) size += t[p].size();
    out.history.reserve(size);
    for (auto& t : recorded)
      for (auto& op : t[p]) out.history.push_back(std::move(op));
    const std::string where = "VMA " + std::to_string(p) + " at " + hex(kZapVmas[p].start);
    const ZapSpec spec(kZapVmas[p], file);
    const auto budget = std::chrono::milliseconds(3000);
    const CheckResult r = check_with(spec, spec.initial(), out.history, budget);
    if (r.verdict == Verdict::kUnknown) {
      out.note = where + ": " + r.explanation + "\n";
    } else if (r.verdict == Verdict::kNotLinearizable) {
      const CheckResult ref =
          check_linearizable<cmd::ModelRunner>(model, out.history, budget, cmd::state_hash);
      if (ref.verdict == Verdict::kNotLinearizable) {
        out.failure = "not linearizable, " + where + ":\n" + ref.explanation;
      } else if (ref.verdict == Verdict::kLinearizable) {
        out.failure = "ZapSpec rejects a history of " + where +
                      " that the reference model accepts (a bug in stress/zap_spec.cc):\n" + r.explanation;
      } else {
        out.failure = "not linearizable by ZapSpec, " + where + " (the reference model's check: " +
                      ref.explanation + "):\n" + r.explanation;
      }
      // The timeline of the check that failed: the reference model's, or
      // ZapSpec's where that one did not; named in the failure message.
      std::string headline = out.failure.substr(0, out.failure.find('\n'));
      if (!headline.empty() && headline.back() == ':') headline.pop_back();
      out.failure += write_timeline(
          out.history, ref.verdict == Verdict::kNotLinearizable ? ref : r,
          "mmv-lin-zap-seed" + std::to_string(cfg.seed) + "-threads" + std::to_string(cfg.threads) + "-vma" +
              std::to_string(p),
          failure_banner(cfg) + ", zap: " + headline, out.failure);
    } else {
      Replay& replay = replays[worker];
      if (!replay.model) replay.model = model;
      for (std::size_t i : r.order) {
        const Operation& op = out.history[i];
        if (const std::string got = replay.model->apply(op.input); got != op.output) {
          out.failure = "ZapSpec's witness order for " + where +
                        " does not replay on the reference model (a bug in stress/zap_spec.cc): " +
                        cmd::to_string(op.input) + " gave " + got + ", recorded " + op.output;
          replay.clean = false;
          return;
        }
      }
      out.replayed_by = worker;
    }
  });
  fail(rep, impl_failures);
  for (const PartCheck& c : checks) {
    fail(rep, c.failure);
    rep.notes += c.note;
  }
  // Each file page on disk: as the replayed model of the VMA that maps it
  // wrote it back, or untouched.
  for (Replay& r : replays)
    if (r.model) r.model->apply(wb);
  const FileId impl_file = impl.kernel().file_ids().at(0);
  for (std::uint64_t i = 0; i < cmd::kFiles[0].pages; ++i) {
    const cmd::ModelRunner* want_from = &model;
    for (int p = 0; p < kNumZapVmas; ++p) {
      const ZapVma& v = kZapVmas[p];
      if (v.kind != ZapKind::kFile || i < v.pgoff || i >= v.pgoff + v.pages) continue;
      const int w = checks[p].replayed_by;
      want_from = w >= 0 && replays[w].clean ? &*replays[w].model : nullptr;
    }
    if (want_from &&
        !(impl.kernel().disk_page(impl_file, i) == want_from->system().disk_page(want_from->file_id(0), i)))
      fail(rep, "file page " + std::to_string(i) + " on disk differs from the model's");
  }
  rep.check_seconds = std::chrono::duration<double>(Clock::now() - checking_from).count();
  return rep;
}

// ---- remap --------------------------------------------------------------------

StressReport run_remap(const StressConfig& cfg) {
  EnvFault env_fault;
  StressReport rep;
  cmd::ImplRunner impl;
  for (const ZapVma& v : kRemapVmas)
    if (const std::string out = impl.apply(map_command(v)); out.rfind("ok", 0) != 0)
      fail(rep, "setup " + cmd::to_string(map_command(v)) + ": " + out);
  if (!rep.ok) return rep;

  const int n = std::max(1, cfg.threads);
  std::vector<std::vector<std::vector<Operation>>> recorded(n, std::vector<std::vector<Operation>>(kNumRemapVmas));
  std::vector<std::uint64_t> commands(n, 0);
  run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
    int i = 0;
    while (keep_going(i)) {
      const int vi = static_cast<int>(rng() % kNumRemapVmas);
      // An munmap and the mmap that follows it run back to back.
      for (cmd::Command c : remap_commands(kRemapVmas[vi], rng)) {
        c.cpu = static_cast<std::uint8_t>(t % cmd::kCpus);  // each thread a CPU, with its own TLB
        Operation op;
        op.client = t;
        op.input = c;
        op.call = now_ns();
        op.output = impl.apply(op.input);
        op.ret = now_ns();
        recorded[t][vi].push_back(std::move(op));
        ++i;
      }
    }
    commands[t] = static_cast<std::uint64_t>(i);
  });

  const auto checking_from = Clock::now();
  for (const std::uint64_t c : commands) rep.ops += c;
  std::vector<std::string> failures(kNumRemapVmas + 1), notes(kNumRemapVmas);
  CheckPool::get().run(kNumRemapVmas + 1, [&](int task, int) {
    if (task == kNumRemapVmas) {
      if (auto inv = impl.check_invariants(); !inv.empty()) failures[task] += "invariants:\n" + join_lines(inv);
      if (auto bugs = impl.kernel().bugs(); !bugs.empty()) failures[task] += "kernel bugs:\n" + join_lines(bugs);
      return;
    }
    std::vector<Operation> history;
    for (auto& t : recorded)
      for (auto& op : t[task]) history.push_back(std::move(op));
    const RemapVerdict v = check_remap(task, history);
    if (v.verdict == Verdict::kLinearizable) return;
    if (v.verdict == Verdict::kUnknown) {
      notes[task] = v.failure + "\n";
      return;
    }
    std::string headline = v.failure.substr(0, v.failure.find('\n'));
    failures[task] = v.failure + write_timeline(v.part, v.result,
                                                "mmv-lin-remap-seed" + std::to_string(cfg.seed) + "-threads" +
                                                    std::to_string(cfg.threads) + "-vma" + std::to_string(task),
                                                failure_banner(cfg) + ", remap: " + headline, v.failure);
  });
  for (const std::string& f : failures) fail(rep, f);
  for (const std::string& n : notes) rep.notes += n;
  rep.check_seconds = std::chrono::duration<double>(Clock::now() - checking_from).count();
  return rep;
}

// ---- VMA locks ---------------------------------------------------------------

namespace {
constexpr Addr kLockBase = 0x50000000;
constexpr std::uint64_t kLockPages = 16;
constexpr VmFlags kProtA = flags::kRead;
constexpr VmFlags kProtB = flags::kRead | flags::kWrite;
}  // namespace

StressReport run_vma_lock(const StressConfig& cfg, bool vma_lock) {
  EnvFault env_fault;
  StressReport rep;
  impl::Kernel kernel;
  {
    impl::ARef<impl::MmWithUser> mm = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
    MmapRequest req;
    req.addr = kLockBase;
    req.length = kLockPages * kP;
    req.fixed = true;
    req.prot = kProtB;
    if (!mm->mmap(req).ok()) {
      fail(rep, "setup mmap failed");
      return rep;
    }
    const int n = std::max(1, cfg.threads);
    struct Counts {
      std::uint64_t ops = 0, hits = 0, busy = 0;
      std::vector<std::string> violations;
    };
    std::vector<Counts> counts(n);
    impl::MmWithUser* m = mm.get();

    auto write_op = [&](std::mt19937_64& rng) {
      const std::uint64_t first = rng() % kLockPages;
      const std::uint64_t len = (1 + rng() % 4) * kP;
      const Addr lo = kLockBase + first * kP;
      const std::uint64_t l = std::min<std::uint64_t>(len, (kLockPages - first) * kP);
      switch (rng() % 4) {
        case 0:  // a hole, then filled again (splits, then merges)
          (void)m->munmap(lo, l);
          {
            MmapRequest r;
            r.addr = lo;
            r.length = l;
            r.fixed = true;
            r.prot = rng() % 2 ? kProtA : kProtB;
            (void)m->mmap(r);
          }
          break;
        case 1:  // the whole area: no split, every VMA changed in place
          (void)m->mprotect(kLockBase, kLockPages * kP, rng() % 2 ? kProtA : kProtB);
          break;
        default:  // a part: splits (and merges back)
          (void)m->mprotect(lo, l, rng() % 2 ? kProtA : kProtB);
          break;
      }
    };
    auto read_op = [&](std::mt19937_64& rng, Counts& c) {
      // Sometimes just outside the area.
      const Addr addr = kLockBase - kP + rng() % ((kLockPages + 2) * kP);
      auto check = [&](const impl::VmaRef& v) {
        ++c.hits;
        const Addr s1 = v.start(), e1 = v.end();
        const VmFlags f1 = v.flags();
        // The reader does some work while it holds the VMA: under the
        // scheduler a point where the writer may run (and, if it ignores
        // the lock, change the VMA under the reader).
        if (sched::active()) sched::point("reader holds its VMA");
        else std::this_thread::yield();
        const Addr s2 = v.start(), e2 = v.end();
        const VmFlags f2 = v.flags();
        std::string bad;
        if (!v.contains(addr)) bad += " does not contain the address;";
        if (&v.mm() != m) bad += " belongs to another mm;";
        if (!(s1 < e1) || s1 < kLockBase || e1 > kLockBase + kLockPages * kP) bad += " bad bounds;";
        if ((f1 & flags::kProtMask) != kProtA && (f1 & flags::kProtMask) != kProtB) bad += " bad flags;";
        if (s1 != s2 || e1 != e2 || f1 != f2) bad += " changed while locked;";
        if (!bad.empty() && c.violations.size() < 5)
          c.violations.push_back(hex(addr) + " -> [" + hex(s1) + "," + hex(e1) + ") flags " + hex(f1) +
                                 " then [" + hex(s2) + "," + hex(e2) + ") flags " + hex(f2) + ":" + bad);
        else if (!bad.empty())
          c.violations.push_back("");
      };
      if (rng() % 4 == 0) {
        // mmap_read_trylock, against a writer that may hold the lock.
        if (auto g = impl::MmapReadGuard::try_lock(*m)) {
          if (impl::VmaRef* v = g->vma_lookup(addr)) check(*v);
        } else {
          ++c.busy;
        }
      } else if (vma_lock) {
        if (auto g = m->lock_vma_under_rcu(addr)) check(g->vma());
      } else {
        impl::MmapReadGuard g(*m);
        if (impl::VmaRef* v = g.vma_lookup(addr)) check(*v);
      }
    };

    run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
      Counts& c = counts[t];
      for (int i = 0; keep_going(i); ++i, ++c.ops) {
        // With several threads, thread 0 writes and the rest read; alone,
        // the one thread alternates (writes one op in four).
        const bool writer = n > 1 ? t == 0 : rng() % 4 == 0;
        if (writer) write_op(rng);
        else read_op(rng, c);
      }
    });
    std::uint64_t violations = 0, hits = 0, busy = 0;
    std::vector<std::string> shown;
    for (const Counts& c : counts) {
      rep.ops += c.ops;
      hits += c.hits;
      busy += c.busy;
      violations += c.violations.size();
      for (const auto& s : c.violations)
        if (!s.empty()) shown.push_back(s);
    }
    rep.notes = "reader hits: " + std::to_string(hits) + ", trylocks that found the writer: " + std::to_string(busy) + "\n";
    if (violations) fail(rep, std::to_string(violations) + " reader violations:\n" + join_lines(shown));
    if (auto inv = m->check_invariants(); !inv.empty()) fail(rep, "invariants:\n" + join_lines(inv));
  }
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs:\n" + join_lines(bugs));
  return rep;
}

// ---- refcounts -----------------------------------------------------------------

StressReport run_refcount(const StressConfig& cfg) {
  EnvFault env_fault;
  StressReport rep;
  impl::Kernel kernel;
  const int n = std::max(1, cfg.threads);
  std::optional<impl::ARef<impl::MmWithUser>> first = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
  impl::ARef<impl::Mm> keep = (*first)->grab();
  // Something for the users to touch, and for teardown to remove.
  {
    MmapRequest req;
    req.addr = kLockBase;
    req.length = 4 * kP;
    req.fixed = true;
    (void)(*first)->mmap(req);
  }
  struct Get {
    std::uint64_t invoke, response;
    bool got;
  };
  std::vector<std::vector<Get>> gets(n);
  std::vector<std::uint64_t> ops(n, 0);
  std::vector<std::string> errors(n);
  std::vector<impl::ARef<impl::Mm>> grabs;
  for (int t = 0; t < n; ++t) grabs.push_back(keep);
  std::atomic<int> started_ops{0};  // when the main thread drops the first user
  const int drop_after = std::max(1, n * cfg.ops_per_thread / 3);

  run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
    impl::ARef<impl::Mm> own = std::move(grabs[t]);
    // Thread 0 also drops the first user, a third of the way into the run.
    for (int i = 0; keep_going(i); ++i, ++ops[t]) {
      if (t == 0 && first && started_ops.load(std::memory_order_relaxed) >= drop_after) first.reset();
      started_ops.fetch_add(1, std::memory_order_relaxed);
      if (rng() % 4 == 0) {
        impl::ARef<impl::Mm> g = own;  // mmgrab, then mmdrop
        if (g->life() == LifeState::kFreed) errors[t] = "mm freed while a count is held";
        continue;
      }
      Get g{now_ns(), 0, false};
      std::optional<impl::ARef<impl::MmWithUser>> u = own->mmget_not_zero();
      g.response = now_ns();
      g.got = u.has_value();
      gets[t].push_back(g);
      if (u) {
        if ((*u)->life() != LifeState::kLive) errors[t] = "a user reference to a torn-down mm";
        if (rng() % 2) (void)(*u)->read(kLockBase + (rng() % 4) * kP, t);
        if (rng() % 2) {
          std::optional<impl::ARef<impl::MmWithUser>> second = *u;  // mmget
        }
      }
    }
    if (t == 0) first.reset();
  });
  for (int t = 0; t < n; ++t) {
    rep.ops += ops[t];
    if (!errors[t].empty()) fail(rep, "thread " + std::to_string(t) + ": " + errors[t]);
  }
  // Once an mmget_not_zero has come back empty, none invoked later succeeds.
  std::uint64_t first_fail = UINT64_MAX;
  for (const auto& v : gets)
    for (const Get& g : v)
      if (!g.got) first_fail = std::min(first_fail, g.response);
  for (int t = 0; t < n; ++t)
    for (const Get& g : gets[t])
      if (g.got && g.invoke > first_fail) {
        fail(rep, "thread " + std::to_string(t) + ": mmget_not_zero succeeded " +
                      std::to_string(g.invoke - first_fail) + " ns after one had failed");
        goto checked;
      }
checked:
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs:\n" + join_lines(bugs));
  if (keep->life() != LifeState::kTornDown) fail(rep, "the mm is not torn down once every user is gone");
  if (keep->mm_users() != 0 || keep->mm_count() != 1)
    fail(rep, "after the run mm_users = " + std::to_string(keep->mm_users()) + ", mm_count = " +
                  std::to_string(keep->mm_count()) + " (want 0 and 1)");
  if (keep->mmget_not_zero()) fail(rep, "mmget_not_zero succeeded on a torn-down mm");
  if (auto inv = keep->check_invariants(); !inv.empty()) fail(rep, "invariants:\n" + join_lines(inv));
  return rep;
}

// ---- teardown --------------------------------------------------------------------

namespace {
// A shared mapping of `file` at file_at and an anonymous area at anon_at,
// `pages` each; false if either mmap fails.
bool map_file_and_anon(impl::MmWithUser& mm, FileId file, Addr file_at, Addr anon_at, std::uint64_t pages) {
  MmapRequest f;
  f.addr = file_at;
  f.length = pages * kP;
  f.fixed = true;
  f.shared = true;
  f.backing.kind = BackingKind::kFile;
  f.backing.file = file;
  MmapRequest a;
  a.addr = anon_at;
  a.length = pages * kP;
  a.fixed = true;
  return mm.mmap(f).ok() && mm.mmap(a).ok();
}

// A successful store to a byte of a file mapping at file_at.
struct FileWrite {
  Addr addr;
  std::uint8_t value;
};

// The first byte whose last store (the last of `writes` to it: each thread
// writes only its own bytes, in program order) is not on disk, as a
// failure; "" when all are.
std::string lost_write(impl::Kernel& kernel, FileId file, Addr file_at,
                       const std::vector<std::vector<FileWrite>>& writes) {
  std::map<Addr, std::uint8_t> last;
  for (const auto& t : writes)
    for (const FileWrite& w : t) last[w.addr] = w.value;
  for (const auto& [a, v] : last) {
    const Addr off = a - file_at;
    const std::uint8_t got = kernel.disk_page(file, off / kP).get(static_cast<std::uint32_t>(off % kP));
    if (got != v)
      return "lost write at " + hex(a) + ": disk has " + std::to_string(got) + ", last written " + std::to_string(v);
  }
  return "";
}
}  // namespace

StressReport run_teardown(const StressConfig& cfg, Teardown how) {
  EnvFault env_fault;
  StressReport rep;
  impl::Kernel kernel(kernel_worker(cfg));
  const int n = std::max(1, cfg.threads);
  const FileId file = kernel.create_file(cmd::file_contents(cmd::kFiles[0]));
  constexpr Addr kFileAt = 0x50000000, kAnonAt = 0x54000000;
  constexpr std::uint64_t kPages = 8;
  std::vector<std::optional<impl::ARef<impl::MmWithUser>>> users;
  impl::ARef<impl::Mm> keep = impl::ARef<impl::Mm>::adopt(nullptr);
  {
    impl::ARef<impl::MmWithUser> mm = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
    keep = mm->grab();
    if (!map_file_and_anon(*mm, file, kFileAt, kAnonAt, kPages)) {
      fail(rep, "setup mmap failed");
      return rep;
    }
    for (int t = 0; t < n; ++t) users.emplace_back(mm);  // mmget, taken before the threads start
  }  // the setup's own reference: dropped here, the threads' keep it alive
  // kMixed: each thread also holds an mm_count reference, through which it
  // tries mmget_not_zero after its own put.
  std::vector<std::optional<impl::ARef<impl::Mm>>> grabs(n);
  if (how == Teardown::kMixed)
    for (auto& g : grabs) g = keep;

  std::vector<std::vector<FileWrite>> writes(n);
  std::vector<std::string> errors(n);
  std::vector<std::uint64_t> ops(n, 0);
  run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
    impl::ARef<impl::MmWithUser> u = std::move(*users[t]);
    users[t].reset();
    for (int i = 0; keep_going(i); ++i, ++ops[t]) {
      const Addr page = (rng() % 2 ? kFileAt : kAnonAt) + (rng() % kPages) * kP;
      switch (rng() % 3) {
        case 0: (void)u->read(page + rng() % kP, t); break;
        case 1: {
          const Addr a = page + own_offset(t, rng);
          const auto v = static_cast<std::uint8_t>(1 + rng() % 255);
          if (!u->write(a, v, t).ok()) errors[t] = "write failed at " + hex(a);
          else if (page < kAnonAt) writes[t].push_back({a, v});
          break;
        }
        default: {
          const Addr vma = page < kAnonAt ? kFileAt : kAnonAt;
          if (rng() % 2) {
            auto r = u->zap_page_range_single(vma, page, kP);
            if (!r.ok()) errors[t] = "zap failed";
          } else if (auto g = u->lock_vma_under_rcu(page)) {
            (void)g->vma().zap_page_range_single(page, kP);
          }
        }
      }
    }
    // The last of these tears the address space down, on whichever thread.
    switch (how) {
      case Teardown::kSync: break;  // u's destructor: mmput
      case Teardown::kAsync: u.into_raw()->mmput_async(); break;
      case Teardown::kMixed: {
        // Every way a user's life can end, raced with the others': mmput,
        // mmput_async, and an mmget_not_zero through an mm_count reference
        // that may come back from a torn-down mm (it must not).
        impl::ARef<impl::Mm> g = std::move(*grabs[t]);
        grabs[t].reset();
        if (rng() % 2) u.into_raw()->mmput_async();
        else u = impl::ARef<impl::MmWithUser>::adopt(nullptr);
        if (auto again = g->mmget_not_zero()) {
          if ((*again)->life() != LifeState::kLive) errors[t] = "a user reference to a torn-down mm";
          (void)(*again)->read(kAnonAt + (rng() % kPages) * kP, t);
          if (rng() % 2) again->into_raw()->mmput_async();
        }
        break;
      }
    }
  }, &kernel);
  kernel.drain_work();
  for (int t = 0; t < n; ++t) {
    rep.ops += ops[t];
    if (!errors[t].empty()) fail(rep, "thread " + std::to_string(t) + ": " + errors[t]);
  }
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs:\n" + join_lines(bugs));
  if (keep->life() != LifeState::kTornDown) fail(rep, "not torn down after the last mmput");
  if (keep->mm_users() != 0 || keep->mm_count() != 1)
    fail(rep, "after the run mm_users = " + std::to_string(keep->mm_users()) + ", mm_count = " +
                  std::to_string(keep->mm_count()) + " (want 0 and 1)");
  if (auto inv = keep->check_invariants(); !inv.empty()) fail(rep, "invariants:\n" + join_lines(inv));
  // Teardown wrote every thread's last write to its own bytes back.
  fail(rep, lost_write(kernel, file, kFileAt, writes));
  keep = impl::ARef<impl::Mm>::adopt(nullptr);  // frees it: check_mm runs
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs after free:\n" + join_lines(bugs));
  return rep;
}


// ---- short lives -----------------------------------------------------------------

StressReport run_lifetime(const StressConfig& cfg) {
  EnvFault env_fault;
  StressReport rep;
  impl::Kernel kernel(kernel_worker(cfg));
  const int n = std::max(1, cfg.threads);
  const int lives = std::max(1, cfg.ops_per_thread);
  constexpr Addr kAt = 0x54000000;
  // keep[i]: the checker's own mm_count reference to life i, held to the end.
  std::vector<impl::ARef<impl::Mm>> keep;
  // refs[t][i]: thread t's user and mm_count references to life i.
  struct Refs {
    std::optional<impl::ARef<impl::MmWithUser>> user;
    std::optional<impl::ARef<impl::Mm>> count;
  };
  std::vector<std::vector<Refs>> refs(n, std::vector<Refs>(lives));
  for (int i = 0; i < lives; ++i) {
    impl::ARef<impl::MmWithUser> mm = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
    MmapRequest req;
    req.addr = kAt;
    req.length = 2 * kP;
    req.fixed = true;
    if (!mm->mmap(req).ok() || !mm->write(kAt, 1, 0).ok()) {
      fail(rep, "setup of life " + std::to_string(i) + " failed");
      return rep;
    }
    keep.push_back(mm->grab());
    for (int t = 0; t < n; ++t) {
      refs[t][i].user = mm;
      refs[t][i].count = keep.back();
    }
  }  // the setup's own references are gone: the threads' and keep's are left

  std::vector<std::string> errors(n);
  std::vector<std::uint64_t> ops(n, 0);
  run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
    // An mmput or an mmput_async, at random: both can be the last.
    auto put = [&](impl::ARef<impl::MmWithUser> u) {
      if (rng() % 2) u.into_raw()->mmput_async();
    };
    for (int i = 0; i < lives && keep_going(i); ++i, ++ops[t]) {
      impl::ARef<impl::MmWithUser> user = std::move(*refs[t][i].user);
      impl::ARef<impl::Mm> count = std::move(*refs[t][i].count);
      refs[t][i] = Refs{};
      const bool user_first = rng() % 2;
      if (user_first) put(std::move(user));
      if (auto again = count->mmget_not_zero()) {
        if ((*again)->life() != LifeState::kLive) errors[t] = "a user reference to a torn-down mm";
        const Result<std::uint8_t> got = (*again)->read(kAt, t);
        if (!got.ok() || got.value() != 1)
          errors[t] = "life " + std::to_string(i) + " reads " +
                      (got.ok() ? std::to_string(got.value()) : std::string("an error")) + " through mmget_not_zero";
        put(std::move(*again));
      }
      if (!user_first) put(std::move(user));
      count = impl::ARef<impl::Mm>::adopt(nullptr);  // mmdrop
    }
  }, &kernel);
  // What the threads did not reach (out of time under OS threads) ends here.
  refs.clear();
  kernel.drain_work();
  for (int t = 0; t < n; ++t) {
    rep.ops += ops[t];
    if (!errors[t].empty()) fail(rep, "thread " + std::to_string(t) + ": " + errors[t]);
  }
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs:\n" + join_lines(bugs));
  for (int i = 0; i < lives; ++i) {
    const impl::Mm& m = *keep[i];
    if (m.life() != LifeState::kTornDown || m.mm_users() != 0 || m.mm_count() != 1) {
      fail(rep, "life " + std::to_string(i) + " after the run: mm_users = " + std::to_string(m.mm_users()) +
                    ", mm_count = " + std::to_string(m.mm_count()) + " (want 0 and 1, torn down)");
      break;
    }
  }
  keep.clear();  // frees them: check_mm runs
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs after free:\n" + join_lines(bugs));
  return rep;
}

// ---- writeback, two mms ----------------------------------------------------------

StressReport run_writeback(const StressConfig& cfg) {
  EnvFault env_fault;
  StressReport rep;
  impl::Kernel kernel(kernel_worker(cfg));
  const int n = std::max(1, cfg.threads);
  // Few pages, so that writeback, faults and the mprotects meet on them.
  constexpr Addr kFileAt = 0x50000000, kAnonAt = 0x54000000;
  constexpr std::uint64_t kPages = 2;
  const FileId file = kernel.create_file(cmd::file_contents(cmd::kFiles[0]));
  auto map_both = [&](impl::MmWithUser& mm) { return map_file_and_anon(mm, file, kFileAt, kAnonAt, kPages); };
  impl::ARef<impl::MmWithUser> a = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
  if (!map_both(*a)) {
    fail(rep, "setup mmap failed");
    return rep;
  }

  struct Thread {
    std::vector<FileWrite> writes;  // successful ones, in program order (A's or B's mapping: the same offsets)
    std::string error;
    std::uint64_t ops = 0;
  };
  std::vector<Thread> out(n);
  run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
    Thread& me = out[t];
    auto page = [&] { return (rng() % kPages) * kP; };
    for (int i = 0; keep_going(i); ++i, ++me.ops) {
      const unsigned dice = rng() % 100;
      if (t == 0 && dice < 30) {
        if (!kernel.writeback(file).ok()) me.error = "writeback failed";
      } else if (t == 0 && dice < 70) {
        // One page read-only or writable: splits and merges, with the mmap
        // write lock held while the VMA's readers drain. What is left at
        // the end is checked (no writable PTE in a read-only VMA).
        (void)a->mprotect(kFileAt + page(), kP, rng() % 2 ? flags::kRead : flags::kRead | flags::kWrite);
      } else if (t == 0) {
        impl::ARef<impl::MmWithUser> b = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
        if (!map_both(*b)) {
          me.error = "mmap in the second mm failed";
          continue;
        }
        const Addr w = kFileAt + page() + own_offset(t, rng);
        const auto v = static_cast<std::uint8_t>(1 + rng() % 255);
        if (b->write(w, v, t).ok()) me.writes.push_back({w, v});
        else me.error = "write through the second mm failed";
        const Addr r = kAnonAt + page() + own_offset(static_cast<int>(1 + rng() % 8), rng);
        const Result<std::uint8_t> got = b->read(r, t);
        if (!got.ok() || got.value() != 0)
          me.error = "the second mm reads " + (got.ok() ? std::to_string(got.value()) : std::string("an error")) +
                     " at " + hex(r) + " of its fresh anonymous area";
        if (rng() % 2) b.into_raw()->mmput_async();
      } else if (dice < 15) {
        if (!kernel.writeback(file).ok()) me.error = "writeback failed";
      } else if (dice < 30) {
        (void)a->write(kAnonAt + page() + own_offset(t, rng), static_cast<std::uint8_t>(1 + rng() % 255), t);
      } else {
        const Addr w = kFileAt + page() + own_offset(t, rng);
        const auto v = static_cast<std::uint8_t>(1 + rng() % 255);
        // Fails (SEGV) while thread 0 has the page read-only.
        if (a->write(w, v, t).ok()) me.writes.push_back({w, v});
      }
    }
  }, &kernel);
  kernel.drain_work();
  std::vector<std::vector<FileWrite>> writes(n);
  for (int t = 0; t < n; ++t) {
    rep.ops += out[t].ops;
    if (!out[t].error.empty()) fail(rep, "thread " + std::to_string(t) + ": " + out[t].error);
    writes[t] = std::move(out[t].writes);
  }
  if (auto inv = a->check_invariants(); !inv.empty()) fail(rep, "invariants:\n" + join_lines(inv));
  if (!kernel.writeback(file).ok()) fail(rep, "final writeback failed");
  fail(rep, lost_write(kernel, file, kFileAt, writes));
  a = impl::ARef<impl::MmWithUser>::adopt(nullptr);  // the last mmput: teardown and free
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs:\n" + join_lines(bugs));
  return rep;
}


// ---- TLBs ---------------------------------------------------------------------------

StressReport run_tlb(const StressConfig& cfg) {
  EnvFault env_fault;
  StressReport rep;
  impl::Kernel kernel(kernel_worker(cfg));
  const int n = std::max(1, cfg.threads);
  // Two pages: every thread's TLB maps them, and every zap takes them away.
  constexpr Addr kAt = 0x50000000;
  constexpr std::uint64_t kPages = 2;
  impl::ARef<impl::MmWithUser> mm = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
  MmapRequest req;
  req.addr = kAt;
  req.length = kPages * kP;
  req.fixed = true;
  if (!mm->mmap(req).ok()) {
    fail(rep, "setup mmap failed");
    return rep;
  }
  struct Thread {
    std::uint64_t ops = 0;
    std::string error;
  };
  std::vector<Thread> out(n);
  run_threads(cfg, rep, [&](int t, std::mt19937_64& rng, auto keep_going) {
    Thread& me = out[t];
    // This thread's own byte of each page, and what it last stored there
    // (0: nothing since the page was last zapped, as far as it knows).
    std::uint8_t last[kPages] = {};
    for (int i = 0; keep_going(i); ++i, ++me.ops) {
      const std::uint64_t p = rng() % kPages;
      const Addr own = kAt + p * kP + 200 + 32 * static_cast<Addr>(t % 100);
      switch (rng() % 3) {
        case 0: {
          const auto v = static_cast<std::uint8_t>(1 + rng() % 255);
          if (!mm->write(own, v, t).ok()) me.error = "write failed at " + hex(own);
          last[p] = v;
          break;
        }
        case 1: {
          // Another thread's zap may have taken the page (then 0), but no
          // other value can be there: nobody else writes this byte.
          const Result<std::uint8_t> got = mm->read(own, t);
          if (!got.ok()) me.error = "read failed at " + hex(own);
          else if (got.value() != last[p] && got.value() != 0)
            me.error = "read " + std::to_string(got.value()) + " at " + hex(own) + ", last stored " +
                       std::to_string(last[p]) + " (or 0 after a zap)";
          else last[p] = got.value();
          break;
        }
        default:
          if (!mm->zap_page_range_single(kAt, kAt + p * kP, kP).ok()) me.error = "zap failed";
          last[p] = 0;
      }
    }
  }, &kernel);
  for (int t = 0; t < n; ++t) {
    rep.ops += out[t].ops;
    if (!out[t].error.empty()) fail(rep, "thread " + std::to_string(t) + ": " + out[t].error);
  }
  if (auto inv = mm->check_invariants(); !inv.empty()) fail(rep, "invariants:\n" + join_lines(inv));
  mm = impl::ARef<impl::MmWithUser>::adopt(nullptr);
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs:\n" + join_lines(bugs));
  return rep;
}

}  // namespace mmv::stress
