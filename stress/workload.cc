#include "stress/workload.h"

#include <algorithm>
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
#include "model/state_hash.h"
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

std::mt19937_64 thread_rng(std::uint64_t seed, int t) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(t), 0x5eedu};
  return std::mt19937_64(seq);
}

// Runs body(t, rng, keep_going) on cfg.threads threads started together;
// keep_going(i) says whether op i may start (ops and time bound). Returns the
// wall time of the concurrent phase.
template <class Body>
double run_threads(const StressConfig& cfg, Body body) {
  const int n = std::max(1, cfg.threads);
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
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

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

void fail(StressReport& r, const std::string& what) {
  r.ok = false;
  r.explanation += what;
  if (!what.empty() && what.back() != '\n') r.explanation += '\n';
}

// ---- zap -------------------------------------------------------------------

// Six VMAs, 64 MiB apart at fixed addresses, so that none merges, shares a
// page table or is reached by another's fault-around: the model treats them
// independently and the history may be checked per VMA.
enum class ZapKind { kAnon, kFile, kDriver };
struct ZapVma {
  Addr start;
  std::uint64_t pages;
  ZapKind kind;
};
constexpr Addr kZapBase = 0x40000000;
constexpr Addr kZapStride = 64ull << 20;
constexpr ZapVma kZapVmas[] = {
    {kZapBase + 0 * kZapStride, 16, ZapKind::kAnon},  {kZapBase + 1 * kZapStride, 8, ZapKind::kFile},
    {kZapBase + 2 * kZapStride, 8, ZapKind::kDriver}, {kZapBase + 3 * kZapStride, 16, ZapKind::kAnon},
    {kZapBase + 4 * kZapStride, 8, ZapKind::kFile},   {kZapBase + 5 * kZapStride, 8, ZapKind::kDriver},
};
constexpr int kNumZapVmas = sizeof(kZapVmas) / sizeof(kZapVmas[0]);
constexpr std::uint32_t kDriverPages = 4;  // page slots, allocated in setup

std::vector<cmd::Command> zap_setup() {
  std::vector<cmd::Command> pre;
  std::uint64_t file_page = 0;  // each file VMA maps its own pages of file 0
  for (const ZapVma& v : kZapVmas) {
    cmd::Command c;
    c.op = cmd::Op::kMmap;
    c.mmap.addr = v.start;
    c.mmap.length = v.pages * kP;
    c.mmap.fixed = true;
    c.mmap.prot = flags::kRead | flags::kWrite;
    switch (v.kind) {
      case ZapKind::kAnon: break;
      case ZapKind::kFile:
        c.mmap.shared = true;
        c.mmap.backing.kind = BackingKind::kFile;
        c.mmap.backing.file = 0;  // file slot
        c.mmap.backing.pgoff = file_page;
        file_page += v.pages;
        break;
      case ZapKind::kDriver:
        c.mmap.shared = true;
        c.mmap.backing.kind = BackingKind::kDriver;
        c.mmap.setup = {VmaNewOp::kSetMixedMap};
        break;
    }
    pre.push_back(c);
  }
  for (std::uint32_t i = 0; i < kDriverPages; ++i) {
    cmd::Command c;
    c.op = cmd::Op::kAllocPage;
    pre.push_back(c);
  }
  return pre;
}

int zap_vma_of(const cmd::Command& c) {
  for (int i = 0; i < kNumZapVmas; ++i)
    if (c.addr >= kZapVmas[i].start && c.addr < kZapVmas[i].start + kZapVmas[i].pages * kP) return i;
  return -1;
}

// Byte offsets within a page that thread t writes in file VMAs: its own, so
// the last value of each byte is that thread's last write to it under every
// interleaving, and the written-back data is deterministic.
std::uint32_t own_offset(int t, std::mt19937_64& rng) {
  return 200 + static_cast<std::uint32_t>(t % 100) * 32 + static_cast<std::uint32_t>(rng() % 32);
}

cmd::Command zap_command(int t, std::mt19937_64& rng) {
  const int vi = static_cast<int>(rng() % kNumZapVmas);
  const ZapVma& v = kZapVmas[vi];
  const Addr page = v.start + (rng() % v.pages) * kP;
  cmd::Command c;
  c.addr = v.start;
  const unsigned dice = rng() % 100;
  if (dice < 30) {
    c.op = cmd::Op::kRead;
    c.addr = page + (rng() % 2 ? own_offset(static_cast<int>(rng() % 4), rng) : rng() % kP);
  } else if (dice < 60) {
    c.op = cmd::Op::kWrite;
    c.addr = page + (v.kind == ZapKind::kAnon ? rng() % kP : own_offset(t, rng));
    c.value = static_cast<std::uint8_t>(1 + rng() % 255);
  } else if (dice < 85 || v.kind != ZapKind::kDriver) {
    c.op = rng() % 2 ? cmd::Op::kZap : cmd::Op::kZapUnderVmaLock;
    const std::uint64_t first = rng() % v.pages;
    const std::uint64_t n = 1 + rng() % 3;
    c.addr2 = v.start + first * kP;
    // Sometimes past the end: a rejected zap.
    c.len = (rng() % 10 == 0) ? (v.pages - first + 1) * kP : std::min(n, v.pages - first) * kP;
    if (rng() % 8 == 0) c.len -= kP / 2;  // a partial last page
  } else {
    c.op = cmd::Op::kInsertPage;
    c.addr2 = page;
    // Each driver VMA inserts its own pages (slots 0-1 and 2-3), so the
    // parts of the history stay independent.
    c.slot = static_cast<std::uint32_t>((vi < kNumZapVmas / 2 ? 0 : 2) + rng() % 2);
  }
  return c;
}

}  // namespace

std::string failure_banner(const StressConfig& cfg) {
  return "stress failure: seed=" + std::to_string(cfg.seed) + " threads=" + std::to_string(cfg.threads);
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

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
  std::vector<std::vector<Operation>> per_thread(n);
  rep.seconds = run_threads(cfg, [&](int t, std::mt19937_64& rng, auto keep_going) {
    std::vector<Operation>& out = per_thread[t];
    out.reserve(cfg.ops_per_thread);
    for (int i = 0; keep_going(i); ++i) {
      Operation op;
      op.thread = t;
      op.command = zap_command(t, rng);
      op.invoke = now_ns();
      op.outcome = impl.apply(op.command);
      op.response = now_ns();
      out.push_back(std::move(op));
    }
  });

  const auto checking_from = Clock::now();
  std::vector<Operation> history;
  for (auto& v : per_thread)
    for (auto& op : v) history.push_back(std::move(op));
  rep.ops = history.size();

  if (auto inv = impl.check_invariants(); !inv.empty()) fail(rep, "invariants:\n" + join_lines(inv));
  if (auto bugs = impl.kernel().bugs(); !bugs.empty()) fail(rep, "kernel bugs:\n" + join_lines(bugs));

  // Linearizability, one VMA at a time; the witness orders, replayed one
  // part after the other (the parts are independent), give a model state
  // whose written-back file data the implementation's must equal.
  std::vector<std::vector<Operation>> parts(kNumZapVmas);
  for (const Operation& op : history) parts[zap_vma_of(op.command)].push_back(op);
  std::function<std::size_t(const cmd::ModelRunner&)> key = [](const cmd::ModelRunner& m) {
    return model::state_hash(m.system());
  };
  cmd::ModelRunner replay = model;
  bool complete = true;
  for (int p = 0; p < kNumZapVmas; ++p) {
    CheckResult r = check_linearizable(model, parts[p], std::chrono::milliseconds(3000), key);
    if (r.verdict == Verdict::kNotLinearizable) {
      fail(rep, "not linearizable, VMA " + std::to_string(p) + " at " + hex(kZapVmas[p].start) + ":\n" +
                    r.explanation);
      complete = false;
    } else if (r.verdict == Verdict::kUnknown) {
      rep.notes += "VMA " + std::to_string(p) + ": " + r.explanation + "\n";
      complete = false;
    } else {
      for (std::size_t i : r.order) replay.apply(parts[p][i].command);
    }
  }

  cmd::Command wb;
  wb.op = cmd::Op::kWriteback;
  wb.slot = 0;
  impl.apply(wb);
  replay.apply(wb);
  if (auto inv = impl.check_invariants(); !inv.empty()) fail(rep, "invariants after writeback:\n" + join_lines(inv));
  const FileId impl_file = impl.kernel().file_ids().at(0);
  for (std::uint64_t i = 0; i < cmd::kFiles[0].pages; ++i) {
    const PageBytes got = impl.kernel().disk_page(impl_file, i);
    if (complete) {
      const PageBytes want = replay.system().disk_page(replay.file_id(0), i);
      if (!(got == want)) fail(rep, "file page " + std::to_string(i) + " on disk differs from the model's");
    }
  }
  // Independent of the checker: every thread's last write to its own bytes
  // of a file VMA is on disk.
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::uint8_t> last;
  std::vector<std::uint64_t> file_first(kNumZapVmas, 0);
  {
    std::uint64_t fp = 0;
    for (int p = 0; p < kNumZapVmas; ++p)
      if (kZapVmas[p].kind == ZapKind::kFile) {
        file_first[p] = fp;
        fp += kZapVmas[p].pages;
      }
  }
  for (const Operation& op : history) {  // per thread in program order
    if (op.command.op != cmd::Op::kWrite || op.outcome != "ok") continue;
    const int p = zap_vma_of(op.command);
    if (kZapVmas[p].kind != ZapKind::kFile) continue;
    const Addr off = op.command.addr - kZapVmas[p].start;
    last[{file_first[p] + off / kP, static_cast<std::uint32_t>(off % kP)}] = op.command.value;
  }
  for (const auto& [where, value] : last) {
    const std::uint8_t got = impl.kernel().disk_page(impl_file, where.first).get(where.second);
    if (got != value) {
      fail(rep, "lost write: file page " + std::to_string(where.first) + " byte " +
                    std::to_string(where.second) + " is " + std::to_string(got) + ", last written " +
                    std::to_string(value));
      break;
    }
  }
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
      std::uint64_t ops = 0, hits = 0;
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
        std::this_thread::yield();
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
      if (vma_lock) {
        if (auto g = m->lock_vma_under_rcu(addr)) check(g->vma());
      } else {
        impl::MmapReadGuard g(*m);
        if (impl::VmaRef* v = g.vma_lookup(addr)) check(*v);
      }
    };

    rep.seconds = run_threads(cfg, [&](int t, std::mt19937_64& rng, auto keep_going) {
      Counts& c = counts[t];
      for (int i = 0; keep_going(i); ++i, ++c.ops) {
        // With several threads, thread 0 writes and the rest read; alone,
        // the one thread alternates (writes one op in four).
        const bool writer = n > 1 ? t == 0 : rng() % 4 == 0;
        if (writer) write_op(rng);
        else read_op(rng, c);
      }
    });
    std::uint64_t violations = 0, hits = 0;
    std::vector<std::string> shown;
    for (const Counts& c : counts) {
      rep.ops += c.ops;
      hits += c.hits;
      violations += c.violations.size();
      for (const auto& s : c.violations)
        if (!s.empty()) shown.push_back(s);
    }
    rep.notes = "reader hits: " + std::to_string(hits) + "\n";
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

  rep.seconds = run_threads(cfg, [&](int t, std::mt19937_64& rng, auto keep_going) {
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
        if (rng() % 2) (void)(*u)->read(kLockBase + (rng() % 4) * kP);
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

StressReport run_teardown(const StressConfig& cfg, bool async) {
  EnvFault env_fault;
  StressReport rep;
  impl::Kernel kernel;
  const int n = std::max(1, cfg.threads);
  const FileId file = kernel.create_file(cmd::file_contents(cmd::kFiles[0]));
  constexpr Addr kFileAt = 0x50000000, kAnonAt = 0x54000000;
  constexpr std::uint64_t kPages = 8;
  std::vector<std::optional<impl::ARef<impl::MmWithUser>>> users;
  impl::ARef<impl::Mm> keep = impl::ARef<impl::Mm>::adopt(nullptr);
  {
    impl::ARef<impl::MmWithUser> mm = kernel.mm_alloc(cmd::kWindowLo, cmd::kWindowHi);
    keep = mm->grab();
    MmapRequest f;
    f.addr = kFileAt;
    f.length = kPages * kP;
    f.fixed = true;
    f.shared = true;
    f.backing.kind = BackingKind::kFile;
    f.backing.file = file;
    MmapRequest a;
    a.addr = kAnonAt;
    a.length = kPages * kP;
    a.fixed = true;
    if (!mm->mmap(f).ok() || !mm->mmap(a).ok()) {
      fail(rep, "setup mmap failed");
      return rep;
    }
    for (int t = 0; t < n; ++t) users.emplace_back(mm);  // mmget, taken before the threads start
  }  // the setup's own reference: dropped here, the threads' keep it alive

  struct Write {
    Addr addr;
    std::uint8_t value;
  };
  std::vector<std::vector<Write>> writes(n);
  std::vector<std::string> errors(n);
  std::vector<std::uint64_t> ops(n, 0);
  rep.seconds = run_threads(cfg, [&](int t, std::mt19937_64& rng, auto keep_going) {
    impl::ARef<impl::MmWithUser> u = std::move(*users[t]);
    users[t].reset();
    for (int i = 0; keep_going(i); ++i, ++ops[t]) {
      const Addr page = (rng() % 2 ? kFileAt : kAnonAt) + (rng() % kPages) * kP;
      switch (rng() % 3) {
        case 0: (void)u->read(page + rng() % kP); break;
        case 1: {
          const Addr a = page + own_offset(t, rng);
          const auto v = static_cast<std::uint8_t>(1 + rng() % 255);
          if (!u->write(a, v).ok()) errors[t] = "write failed at " + hex(a);
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
    if (async) u.into_raw()->mmput_async();
  });
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
  std::map<Addr, std::uint8_t> last;
  for (const auto& v : writes)
    for (const Write& w : v) last[w.addr] = w.value;  // bytes are per thread
  for (const auto& [a, v] : last) {
    const Addr off = a - kFileAt;
    const std::uint8_t got = kernel.disk_page(file, off / kP).get(static_cast<std::uint32_t>(off % kP));
    if (got != v) {
      fail(rep, "lost write at " + hex(a) + ": disk has " + std::to_string(got) + ", last written " +
                    std::to_string(v));
      break;
    }
  }
  keep = impl::ARef<impl::Mm>::adopt(nullptr);  // frees it: check_mm runs
  if (auto bugs = kernel.bugs(); !bugs.empty()) fail(rep, "kernel bugs after free:\n" + join_lines(bugs));
  return rep;
}

}  // namespace mmv::stress
