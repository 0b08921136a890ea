#include "model/oracle/concurrent_oracle.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <istream>
#include <map>
#include <ostream>
#include <random>
#include <sstream>
#include <thread>
#include <tuple>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "lincheck/history_file.h"
#include "impl/sanitizers.h"
#include "model/oracle/kernel_space.h"
#include "stress/remap_check.h"
#include "testing/cli.h"
#include "testing/command_text.h"

namespace mmv::oracle {
namespace {

using stress::Operation;
using stress::Verdict;
using stress::ZapKind;
using stress::ZapVma;
using Clock = std::chrono::steady_clock;
constexpr Addr kP = kPageSize;

// ---- recording ------------------------------------------------------------

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Nothing after this starts before everything before it has finished: the
// operation after a call time is not performed before that time was read.
inline void wait_for_earlier() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_lfence();
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

// A fault in a load or store of this thread's jumps back to where it was
// made. SA_NODEFER keeps the signal unblocked for the next fault, so the
// jump needs not restore the mask (sigsetjmp(.., 0): no system call per
// access). Under ThreadSanitizer, whose signal interceptors do not survive
// that, the handler runs with the signal blocked and the jump restores the
// mask.
thread_local sigjmp_buf* t_on_fault = nullptr;

void on_fault(int sig, siginfo_t*, void*) {
  if (sigjmp_buf* j = t_on_fault) {
    t_on_fault = nullptr;
    siglongjmp(*j, sig);
  }
  // Not one of ours: the default action, when the access runs again.
  std::signal(sig, SIG_DFL);
}

// Installs on_fault for SIGSEGV and SIGBUS while it lives.
class FaultHandlers {
 public:
  FaultHandlers() {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | (MMV_TSAN ? 0 : SA_NODEFER);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv_);
    sigaction(SIGBUS, &sa, &old_bus_);
  }
  ~FaultHandlers() {
    sigaction(SIGSEGV, &old_segv_, nullptr);
    sigaction(SIGBUS, &old_bus_, nullptr);
  }
  FaultHandlers(const FaultHandlers&) = delete;
  FaultHandlers& operator=(const FaultHandlers&) = delete;

 private:
  struct sigaction old_segv_ {};
  struct sigaction old_bus_ {};
};

// One CPU load or store of a byte; 0, or the signal it took. The threads'
// accesses race each other and the kernel on purpose, as CPUs do: that is
// what is recorded. So ThreadSanitizer does not instrument them (it would
// report the race the oracle is made of, and a fault inside its own
// runtime could not be jumped out of).
__attribute__((noinline, no_sanitize("thread"))) int cpu_access(Addr a, bool write, std::uint8_t value,
                                                                std::uint8_t* out) {
  sigjmp_buf jump;
  if (const int sig = sigsetjmp(jump, MMV_TSAN); sig != 0) return sig;
  t_on_fault = &jump;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  auto* p = reinterpret_cast<volatile std::uint8_t*>(a);
  if (write) {
    *p = value;
  } else {
    *out = *p;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_on_fault = nullptr;
  return 0;
}

std::string signal_outcome(int sig) {
  return sig == SIGSEGV ? "error SIGSEGV" : sig == SIGBUS ? "error SIGBUS" : "signal " + std::to_string(sig);
}

std::string errno_outcome(int e) {
  if (e == 0) return "ok";
  if (const std::optional<Errc> c = errc_of(e)) return cmd::outcome(Status(*c));
  return "errno " + std::to_string(e);
}

int prot_bits(VmFlags prot) {
  return (prot & flags::kRead ? PROT_READ : 0) | (prot & flags::kWrite ? PROT_WRITE : 0) |
         (prot & flags::kExec ? PROT_EXEC : 0);
}

// The kRemapVmas on this machine's kernel: kZapBase of the model is
// `base` here, and file slot 0 is a temp file with the model's contents.
class KernelVmas {
 public:
  KernelVmas(Addr base, std::uint64_t span_pages)
      : base_(base), file_(cmd::file_contents(cmd::kFiles[0])), space_(base, span_pages, {file_}) {}

  Addr at(Addr model) const { return base_ + (model - stress::kZapBase); }

  // The VMA mapped afresh, read-write, and its shared file pages as the
  // file first held them.
  std::string reset(const ZapVma& v) {
    if (const int e = space_.munmap(at(v.start), v.pages * kP)) return "munmap: " + errno_outcome(e);
    if (v.kind == ZapKind::kFile) {
      for (std::uint64_t i = 0; i < v.pages; ++i)
        if (!space_.write_file_page(0, v.pgoff + i, file_[v.pgoff + i])) return "pwrite of the file failed";
    }
    const std::string out = run(stress::map_command(v));
    return out.rfind("ok", 0) == 0 ? "" : "mmap: " + out;
  }

  // Runs `c` on the kernel and answers as the model does.
  std::string run(const cmd::Command& c) {
    switch (c.op) {
      case cmd::Op::kRead:
      case cmd::Op::kWrite: {
        std::uint8_t got = 0;
        const int sig = cpu_access(at(c.addr), c.op == cmd::Op::kWrite, c.value, &got);
        if (sig != 0) return signal_outcome(sig);
        return c.op == cmd::Op::kWrite ? "ok" : "ok " + std::to_string(got);
      }
      case cmd::Op::kZap: {
        const int e = space_.madvise_dontneed(at(c.addr2), c.len);
        return e == 0 ? "zapped" : e == ENOMEM ? "error NO_VMA" : errno_outcome(e);
      }
      case cmd::Op::kMprotect: return errno_outcome(space_.mprotect(at(c.addr), c.len, prot_bits(c.prot)));
      case cmd::Op::kMunmap: return errno_outcome(space_.munmap(at(c.addr), c.len));
      case cmd::Op::kMmap: {
        const MmapRequest& m = c.mmap;
        const bool file = m.backing.kind == BackingKind::kFile;
        Addr got = 0;
        if (const int e = space_.mmap(at(m.addr), m.length, prot_bits(m.prot), m.shared, file ? 0 : -1,
                                      m.backing.pgoff, m.fixed, &got))
          return errno_outcome(e);
        return cmd::outcome(Result<Addr>(got - at(m.addr) + m.addr));
      }
      default: return "not run on the kernel: " + cmd::to_string(c);
    }
  }

 private:
  Addr base_;
  std::vector<PageBytes> file_;  // file slot 0 as first written
  KernelSpace space_;
};

// ---- what the checks are about -----------------------------------------------

bool is_access(const cmd::Command& c) { return c.op == cmd::Op::kRead || c.op == cmd::Op::kWrite; }
bool is_zap(const Operation& o) { return o.input.op == cmd::Op::kZap && o.output == "zapped"; }
bool is_downgrade(const Operation& o) {
  return o.input.op == cmd::Op::kMprotect && o.output == "ok" && !(o.input.prot & flags::kWrite);
}
bool is_remap(const Operation& o) {
  return (o.input.op == cmd::Op::kMunmap && o.output == "ok") ||
         (o.input.op == cmd::Op::kMmap && o.output.rfind("ok", 0) == 0);
}
std::string kernel_release() {
  utsname u{};
  return uname(&u) == 0 ? std::string(u.sysname) + " " + u.release + " " + u.machine : "unknown";
}

std::string out_dir(const ConcurrentConfig& cfg) {
  if (!cfg.out_dir.empty()) return cfg.out_dir;
  if (const char* d = cli::env("MMV_ORACLE_OUT_DIR")) return d;
  return std::filesystem::temp_directory_path().string();
}

// Pins the calling thread to the t-th CPU it may run on (round robin).
void pin(int t) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  const int n = CPU_COUNT(&allowed);
  if (n == 0) return;
  int k = t % n;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed) || k-- > 0) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    return;
  }
}

int default_threads() {
  cpu_set_t allowed;
  const int n = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : 2;
  return std::clamp(n, 2, 4);
}

}  // namespace

const char* strictness_name(Strictness s) {
  switch (s) {
    case Strictness::kExact: return "exact";
    case Strictness::kZapAtReturn: return "zap-at-return";
    case Strictness::kDowngradeAtCall: return "downgrade-at-call";
  }
  return "?";
}

std::optional<Strictness> parse_strictness(const std::string& name) {
  for (Strictness s : {Strictness::kExact, Strictness::kZapAtReturn, Strictness::kDowngradeAtCall})
    if (name == strictness_name(s)) return s;
  return std::nullopt;
}

Reach& Reach::operator+=(const Reach& o) {
  read_zap += o.read_zap;
  write_downgrade += o.write_downgrade;
  access_remap += o.access_remap;
  return *this;
}

Reach reach_of(const std::vector<Operation>& history) {
  // Per page, the intervals of the zaps, downgrades and re-mappings of it.
  struct Spans {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> zap, downgrade, remap;
  };
  std::map<std::uint64_t, Spans> pages;
  for (const Operation& o : history) {
    if (is_access(o.input) || stress::vma_index(stress::kRemapVmas, o.input) < 0) continue;
    Spans& s = pages[stress::remap_page(o.input)];
    if (is_zap(o)) s.zap.push_back({o.call, o.ret});
    if (is_downgrade(o)) s.downgrade.push_back({o.call, o.ret});
    if (is_remap(o)) s.remap.push_back({o.call, o.ret});
  }
  auto overlaps = [](const Operation& a, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& spans) {
    return std::any_of(spans.begin(), spans.end(), [&](const auto& s) { return a.call < s.second && s.first < a.ret; });
  };
  Reach r;
  for (const Operation& o : history) {
    if (!is_access(o.input) || stress::vma_index(stress::kRemapVmas, o.input) < 0) continue;
    auto it = pages.find(stress::remap_page(o.input));
    if (it == pages.end()) continue;
    if (o.input.op == cmd::Op::kRead && overlaps(o, it->second.zap)) ++r.read_zap;
    if (o.input.op == cmd::Op::kWrite && overlaps(o, it->second.downgrade)) ++r.write_downgrade;
    if (overlaps(o, it->second.remap)) ++r.access_remap;
  }
  return r;
}

EpochVerdict check_epoch(const EpochHistory& h, Strictness strictness) {
  stress::RemapCheck how;
  if (strictness == Strictness::kZapAtReturn)
    how.adjust = [](Operation& o) {
      if (is_zap(o) && o.ret > o.call + 1) o.call = o.ret - 1;
    };
  if (strictness == Strictness::kDowngradeAtCall)
    how.adjust = [](Operation& o) {
      if (is_downgrade(o) && o.ret > o.call + 1) o.ret = o.call + 1;
    };
  how.model_has_last_word = strictness == Strictness::kExact;
  return stress::check_remap(h.vma, h.ops, how);
}

EpochHistory shrink_epoch(const EpochHistory& h, Strictness strictness) {
  // Two cuts that keep it a history the kernel really produced, so that it
  // fails for the reason the whole one did (dropping operations at will
  // would drop the write or the mprotect that explains a read or a fault,
  // and leave that read or fault unexplained):
  //  - the commands on the page whose part failed: the other pages' parts
  //    are independent of it (P-compositionality);
  //  - what had happened at the earliest time T where that is still
  //    rejected: the commands called before T, those still running at T
  //    with their outcome unknown (they may or may not have taken effect).
  //    A prefix of a linearizable history is linearizable, so the search
  //    for T can halve its range.
  const EpochVerdict whole = check_epoch(h, strictness);
  if (whole.verdict != Verdict::kNotLinearizable || whole.part.empty()) return h;
  const std::uint64_t page = whole.page;
  EpochHistory on_page{h.vma, {}};
  for (const Operation& o : h.ops) {
    const std::vector<Operation> pieces = stress::remap_pieces({o});
    if (std::any_of(pieces.begin(), pieces.end(), [&](const Operation& p) { return stress::remap_page(p.input) == page; }))
      on_page.ops.push_back(o);
  }
  auto as_of = [&](std::uint64_t t) {
    EpochHistory cut{h.vma, {}};
    for (const Operation& o : on_page.ops) {
      if (o.call >= t) continue;
      cut.ops.push_back(o);
      if (o.ret >= t) {
        cut.ops.back().responded = false;
        cut.ops.back().output.clear();
      }
    }
    return cut;
  };
  auto rejected = [&](const EpochHistory& c) {
    return !c.ops.empty() && check_epoch(c, strictness).verdict == Verdict::kNotLinearizable;
  };
  if (!rejected(on_page)) return h;  // cannot happen by P-compositionality; keep the whole then
  std::vector<std::uint64_t> times;  // a rejection can only begin at a return
  for (const Operation& o : on_page.ops) times.push_back(o.ret + 1);
  std::sort(times.begin(), times.end());
  std::size_t lo = 0, hi = times.size() - 1;  // as_of(times[hi]) holds every command, completed
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (rejected(as_of(times[mid]))) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return as_of(times[hi]);
}

void write_history(std::ostream& out, const EpochHistory& h, const std::vector<std::string>& comments) {
  for (const std::string& c : comments) out << "; " << c << "\n";
  // One event per line, in time order (calls before returns at equal
  // times, as the checker orders them), so that line order is real time.
  struct Line {
    std::uint64_t time;
    int ret;
    std::size_t op;
  };
  std::vector<Line> lines;
  for (std::size_t i = 0; i < h.ops.size(); ++i) {
    lines.push_back({h.ops[i].call, 0, i});
    if (h.ops[i].responded) lines.push_back({h.ops[i].ret, 1, i});  // else: never completes
  }
  std::sort(lines.begin(), lines.end(),
            [](const Line& a, const Line& b) { return std::tie(a.time, a.ret, a.op) < std::tie(b.time, b.ret, b.op); });
  const std::uint64_t t0 = lines.empty() ? 0 : lines.front().time;
  for (const Line& l : lines) {
    const Operation& o = h.ops[l.op];
    history::Value v;
    v.kind = history::Value::kString;
    v.text = l.ret ? o.output : cmd::to_string(o.input);
    out << "{:process " << o.client << ", :type " << (l.ret ? ":ok" : ":invoke") << ", :f :"
        << cmd::op_name(o.input.op) << ", :value " << v.edn() << ", :ns " << (l.time - t0) << "}\n";
  }
}

std::optional<EpochHistory> read_history(std::istream& in, std::string* error) {
  try {
    const std::vector<history::Operation> ops =
        history::pair_events(history::read_events(in, history::Format::kEdnLines));
    EpochHistory h;
    h.vma = -1;
    for (const history::Operation& o : ops) {
      auto line = [&](const std::string& what) { return "line " + std::to_string(o.call_line) + ": " + what; };
      const bool unknown = o.outcome == history::Type::kInfo;
      if ((o.outcome != history::Type::kOk && !unknown) || o.input.kind != history::Value::kString ||
          (!unknown && o.output.kind != history::Value::kString)) {
        *error = line("each operation needs a string :value on its :invoke, and an :ok completion with one, or none");
        return std::nullopt;
      }
      std::string why;
      const std::optional<cmd::Command> c = cmd::parse_command(o.input.text, &why);
      if (!c) {
        *error = line(why);
        return std::nullopt;
      }
      const int vma = stress::vma_index(stress::kRemapVmas, *c);
      if (vma < 0 || (h.vma >= 0 && vma != h.vma)) {
        *error = line("'" + o.input.text + "' is not on the VMA of the history's first command");
        return std::nullopt;
      }
      h.vma = vma;
      h.ops.push_back(Operation{o.process, 2 * o.call, unknown ? UINT64_MAX : 2 * o.ret + 1, !unknown, *c,
                                unknown ? "" : o.output.text});
    }
    if (h.ops.empty()) {
      *error = "no operations";
      return std::nullopt;
    }
    return h;
  } catch (const history::ParseError& e) {
    *error = e.what();
    return std::nullopt;
  }
}

std::string ConcurrentReport::summary() const {
  std::ostringstream os;
  const double s = seconds > 0 ? seconds : 1;
  os << ops << " operations in " << epochs << " epochs, " << threads << " threads, " << seconds << " s ("
     << static_cast<std::uint64_t>(static_cast<double>(ops) / s) << " ops/s), " << states << " states searched\n"
     << "overlaps: read with a zap of its page " << reach.read_zap << " ("
     << static_cast<std::uint64_t>(static_cast<double>(reach.read_zap) / s) << "/s), write with an mprotect "
     << "downgrade of its page " << reach.write_downgrade << " ("
     << static_cast<std::uint64_t>(static_cast<double>(reach.write_downgrade) / s) << "/s), access with an munmap "
     << "or re-mmap of its page " << reach.access_remap << " ("
     << static_cast<std::uint64_t>(static_cast<double>(reach.access_remap) / s) << "/s)\n";
  return os.str();
}

ConcurrentReport run_concurrent(const ConcurrentConfig& cfg) {
  ConcurrentReport rep;
  const auto started = Clock::now();
  const int n = cfg.threads > 0 ? cfg.threads : default_threads();
  rep.threads = n;
  const std::uint64_t span_pages = stress::kNumRemapVmas * stress::kZapStride / kP;
  std::string why;
  const std::optional<Addr> base = find_scratch_base(span_pages, &why);
  if (!base) {
    rep.setup_error = why;
    return rep;
  }
  KernelVmas kernel(*base, span_pages);
  FaultHandlers handlers;

  std::vector<std::vector<Operation>> recorded(n);
  std::atomic<bool> stop{false};
  int vma = 0;
  std::barrier start(n + 1), done(n + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      if (cfg.pin) pin(t);
      std::mt19937_64 rng(cfg.seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(t));
      while (true) {
        start.arrive_and_wait();
        if (stop.load()) return;
        const ZapVma& v = stress::kRemapVmas[vma];
        std::vector<Operation>& out = recorded[t];
        out.clear();
        while (static_cast<int>(out.size()) < cfg.ops_per_epoch) {
          for (const cmd::Command& c : stress::remap_commands(v, rng)) {
            Operation op;
            op.client = t;
            op.input = c;
            op.call = now_ns();
            wait_for_earlier();
            op.output = kernel.run(c);
            std::atomic_thread_fence(std::memory_order_seq_cst);  // the store is out before the return time
            op.ret = now_ns();
            out.push_back(std::move(op));
          }
        }
        done.arrive_and_wait();
      }
    });
  }

  const auto deadline = started + std::chrono::duration<double>(cfg.seconds);
  for (std::uint64_t epoch = 0;; ++epoch) {
    if (Clock::now() >= deadline || static_cast<int>(rep.findings.size()) >= cfg.max_findings) break;
    vma = static_cast<int>(epoch % stress::kNumRemapVmas);
    if (const std::string e = kernel.reset(stress::kRemapVmas[vma]); !e.empty()) {
      rep.setup_error = "resetting VMA " + std::to_string(vma) + ": " + e;
      break;
    }
    start.arrive_and_wait();
    done.arrive_and_wait();
    EpochHistory h;
    h.vma = vma;
    for (auto& r : recorded) {
      rep.ops += r.size();
      h.ops.insert(h.ops.end(), r.begin(), r.end());
    }
    ++rep.epochs;
    EpochVerdict v = check_epoch(h, cfg.strictness);
    rep.states += v.states;
    rep.reach += reach_of(v.pieces);
    if (v.verdict == Verdict::kLinearizable) continue;
    // A finding: the history whole and shrunk, and the timeline of the
    // shrunk one, written where the report says.
    const EpochHistory small = v.verdict == Verdict::kNotLinearizable ? shrink_epoch(h, cfg.strictness) : h;
    const EpochVerdict sv = check_epoch(small, cfg.strictness);
    const std::string dir = out_dir(cfg);
    std::filesystem::create_directories(dir);
    const std::string stem = dir + "/mmv-concurrent-oracle-" + strictness_name(cfg.strictness) + "-seed" +
                             std::to_string(cfg.seed) + "-epoch" + std::to_string(epoch);
    const std::vector<std::string> comments = {
        "concurrent kernel oracle history (docs/oracle.md): VMA " + std::to_string(vma) + ", " +
            stress::zap_kind_name(stress::kRemapVmas[vma].kind),
        "kernel: " + kernel_release() + "; seed " + std::to_string(cfg.seed) + ", epoch " + std::to_string(epoch) +
            ", " + std::to_string(n) + " threads, specification " + strictness_name(cfg.strictness),
        "verdict: " + v.failure.substr(0, v.failure.find('\n'))};
    {
      std::ofstream whole(stem + ".edn"), shrunk(stem + "-shrunk.edn");
      write_history(whole, h, comments);
      write_history(shrunk, small, comments);
    }
    std::string finding = "epoch " + std::to_string(epoch) + ": " + v.failure + "\n  history: " + stem + ".edn (" +
                          std::to_string(h.ops.size()) + " operations)\n  shrunk:  " + stem + "-shrunk.edn (" +
                          std::to_string(small.ops.size()) + " operations)\n";
    if (sv.verdict == Verdict::kNotLinearizable && !sv.result.placed.empty()) {
      std::ofstream(stem + "-shrunk.html") << stress::timeline_html(sv.part, sv.result,
                                                                    "concurrent kernel oracle, " + comments[0],
                                                                    sv.failure);
      finding += "  timeline: " + stem + "-shrunk.html\n";
    }
    finding += std::string("  replay:  concurrent_oracle replay --strictness ") + strictness_name(cfg.strictness) +
               " " + stem + "-shrunk.edn\n";
    rep.findings.push_back(finding);
  }
  stop.store(true);
  start.arrive_and_wait();
  for (std::thread& t : threads) t.join();
  rep.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return rep;
}

}  // namespace mmv::oracle
