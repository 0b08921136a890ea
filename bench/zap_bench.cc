// zap_bench: the zap path (SPEC.md section 5, impl/zap.cc) measured on three
// sides in the same run, so rows pair up by name:
//
//   BM_<Scenario>/impl/<arg>    mmv::impl, MmWithUser::zap_page_range_single
//   BM_<Scenario>/model/<arg>   mmv::model::System::zap_page_range_single
//   BM_<Scenario>/kernel/<arg>  this machine's kernel, madvise(MADV_DONTNEED)
//                               on a real mapping of this process
//
// Every iteration populates the range first (stores of a non-zero byte, so
// there are pages to free) outside the timed region, then zaps it. Timing is
// manual (UseManualTime): a steady_clock around the zap call only, so "Time"
// (real_time in JSON) is the zap alone and items_per_second = 4 KiB pages
// zapped per second of zap time. "CPU" is the library's thread CPU time of
// whole iterations, populate included (PauseTiming around the populate
// would cost ~0.5 us per iteration, more than many of the zaps): read Time.
//
// Scenarios (the argument after the side):
//   BM_ZapDense/<side>/<pages>       anonymous private, every page present;
//                                    Complexity() fitted over pages
//   BM_ZapSparse/<side>/<GiB>        a range of 1..1024 GiB with 2 pages
//                                    (first and last); Complexity() over the
//                                    range size: must come out flat
//   BM_ZapSparse2M/<side>/<pages>    one page per 2 MiB over pages * 2 MiB
//                                    (512 pages: 1 GiB)
//   BM_ZapFileDirty/<side>/<pages>   a shared file mapping, every page dirty;
//                                    after the loop the file is written back
//                                    and the byte the last iteration stored
//                                    in each page is checked on "disk"
//                                    (SkipWithError "data lost" otherwise)
//   BM_ZapThpWhole/<side>/<blocks>   HUGEPAGE area, one store per 2 MiB maps
//                                    a PMD leaf; the zap removes them whole
//   BM_ZapThpSplit/<side>/<blocks>   same, then one zap of the first 1 MiB
//                                    of each block (split path); the area is
//                                    unmapped and mapped again before each
//                                    iteration so every block is a fresh THP
//   BM_Munmap/<side>/<pages>         populate, then munmap (timed); the
//                                    area is mapped again, untimed
//   BM_ExitMmap/<side>/<pages>       a fresh mm populated, then its last
//                                    user goes (impl, model: mmput; kernel:
//                                    a child process exits, so its row
//                                    includes a process exit's constant)
//   BM_Fault{AnonRead,AnonWrite,FileRead,FileWrite}/<side>/<pages>
//                                    the fault side: `pages` accesses, each
//                                    a fault, timed; a zap between rounds
//   BM_ZapConcurrent/impl/pages:<p>/readers:<r>
//                                    BM_ZapDense/impl while r threads loop
//                                    lock_vma_under_rcu + read faults on
//                                    four other VMAs; zap_vs_solo and
//                                    reader_vs_solo compare each side with
//                                    itself alone, measured in the same
//                                    iterations (see BM_ZapConcurrent)
//
// Counters: thp_blocks = fraction of 2 MiB blocks that were PMD-mapped after
// the first populate (THP rows; the kernel's comes from AnonHugePages and is
// reported as it is). Every scenario has all three sides at every size: the
// model's std::map page table zaps 262144 pages in ~40 ms, so no model row
// needed capping.
//
// Wall time: manual time counts only the zap, so a benchmark lasts about
// min_time * (populate + zap) / zap. The default --benchmark_min_time here
// is kDefaultMinTime (the library's is 0.5 s), which puts a full run at about
// seven minutes (BM_ZapConcurrent's populates, two per iteration, and the
// kernel's exit children are most of it). The kernel's THP populate costs ~70x its zap (a 2 MiB page
// zeroed per block), so the THP families run with a fixed, smaller min time
// (kThpMinTime) on every side; it shows in their names ("/min_time:0.050")
// and --benchmark_min_time does not change it.
//
// Comparison runs: --benchmark_repetitions=9
// --benchmark_enable_random_interleaving=true --benchmark_format=json
// --benchmark_out=FILE, then scripts/compare-bench BASE.json NEW.json.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "bench/bench_main.h"
#include "bench/kernel_space.h"
#include "bench/zap_sides.h"

namespace mmv::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Where the impl and the model map the zapped area: 16 TiB, aligned to a
// PGD entry, with room for the 1 TiB sparse range. The concurrency
// benchmark's reader areas live at 32 TiB, kReaderStride apart (the gaps
// keep them from merging into one VMA).
constexpr Addr kBase = Addr{1} << 44;
constexpr Addr kReaderBase = Addr{1} << 45;
constexpr std::uint64_t kReaderAreas = 4;
constexpr std::uint64_t kReaderAreaLen = std::uint64_t{64} << 30;
constexpr Addr kReaderStride = Addr{128} << 30;

// See the header comment; the same on every side, so names still pair up.
constexpr double kThpMinTime = 0.05;
constexpr const char* kDefaultMinTime = "--benchmark_min_time=0.2";
constexpr benchmark::IterationCount kOversubscribedIterations = 200;

// Ends a benchmark whose setup failed (the loop must still be entered).
void fail_setup(benchmark::State& state, const std::string& msg) {
  state.SkipWithError(msg.c_str());
  for (auto _ : state) {
  }
}

std::uint8_t next_value(std::uint8_t v) { return v == 255 ? 1 : static_cast<std::uint8_t>(v + 1); }

// The byte stored in page i by the iteration whose value is v: varies with
// the page, never 0.
std::uint8_t page_value(std::uint8_t v, std::uint64_t i) {
  return static_cast<std::uint8_t>((v + i) % 255 + 1);
}

// The benchmark loop: populate() (returns an error message, empty if fine)
// outside the timed region, zap() timed by hand. Sets items processed to
// `pages` per iteration. Returns false if it stopped on an error.
template <class Populate, class Zap>
bool run_loop(benchmark::State& state, std::uint64_t pages, Populate populate, Zap zap) {
  for (auto _ : state) {
    if (std::string e = populate(); !e.empty()) {
      state.SkipWithError(e.c_str());
      break;
    }
    const auto t0 = Clock::now();
    const bool ok = zap();
    const auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    if (!ok) {
      state.SkipWithError("zap failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * pages));
  return !state.error_occurred();
}

template <class Side>
std::string touch_pages(Side& side, Addr base, std::uint64_t n, std::uint64_t stride, std::uint8_t v) {
  for (std::uint64_t i = 0; i < n; ++i)
    if (!side.touch(base + i * stride, v)) return "populate: store failed";
  return {};
}

// ---- Scenarios --------------------------------------------------------------

template <class Side>
struct ZapDense {
  static void run(benchmark::State& state) {
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = pages * kPageSize;
    Side side;
    Addr base = 0;
    if (auto e = side.map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return fail_setup(state, e);
    std::uint8_t v = 0;
    run_loop(
        state, pages, [&] { return touch_pages(side, base, pages, kPageSize, v = next_value(v)); },
        [&] { return side.zap(base, base, len); });
    state.SetComplexityN(static_cast<std::int64_t>(pages));
  }
};

template <class Side>
struct ZapSparse {
  static void run(benchmark::State& state) {
    const auto gib = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = gib << 30;
    Side side;
    Addr base = 0;
    if (auto e = side.map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return fail_setup(state, e);
    std::uint8_t v = 0;
    run_loop(
        state, 2,
        [&] {
          v = next_value(v);
          if (!side.touch(base, v) || !side.touch(base + len - kPageSize, v)) return std::string("populate: store failed");
          return std::string();
        },
        [&] { return side.zap(base, base, len); });
    state.SetComplexityN(static_cast<std::int64_t>(gib));
  }
};

template <class Side>
struct ZapSparse2M {
  static void run(benchmark::State& state) {
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = pages * kPmdSize;
    Side side;
    Addr base = 0;
    if (auto e = side.map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return fail_setup(state, e);
    std::uint8_t v = 0;
    run_loop(
        state, pages, [&] { return touch_pages(side, base, pages, kPmdSize, v = next_value(v)); },
        [&] { return side.zap(base, base, len); });
  }
};

template <class Side>
struct ZapFileDirty {
  static void run(benchmark::State& state) {
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = pages * kPageSize;
    Side side;
    Addr base = 0;
    if (auto e = side.map_file_shared(kBase, pages, &base); !e.empty()) return fail_setup(state, e);
    std::uint8_t v = 0;
    const bool ok = run_loop(
        state, pages,
        [&] {
          v = next_value(v);
          for (std::uint64_t i = 0; i < pages; ++i)
            if (!side.touch(base + i * kPageSize, page_value(v, i))) return std::string("populate: store failed");
          return std::string();
        },
        [&] { return side.zap(base, base, len); });
    // Data written through the mapping must survive the zap: after
    // writeback the file holds what the last iteration stored.
    if (ok && v != 0) {
      if (auto e = side.check_file(pages, [&](std::uint64_t i) { return page_value(v, i); }); !e.empty())
        state.SkipWithError(e.c_str());
    }
  }
};

template <class Side>
struct ZapThpWhole {
  static void run(benchmark::State& state) {
    const auto blocks = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = blocks * kPmdSize;
    Side side;
    Addr base = 0;
    if (auto e = side.map_anon(kBase, len, Huge::kYes, &base); !e.empty()) return fail_setup(state, e);
    std::uint8_t v = 0;
    double thp = -1;
    run_loop(
        state, blocks * kPagesPerPmd,
        [&] {
          std::string e = touch_pages(side, base, blocks, kPmdSize, v = next_value(v));
          if (thp < 0) thp = static_cast<double>(side.thp_blocks(base, blocks)) / static_cast<double>(blocks);
          return e;
        },
        [&] { return side.zap(base, base, len); });
    state.counters["thp_blocks"] = thp;
    state.SetComplexityN(static_cast<std::int64_t>(blocks));
  }
};

template <class Side>
struct ZapThpSplit {
  static void run(benchmark::State& state) {
    const auto blocks = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = blocks * kPmdSize;
    Side side;
    Addr base = 0;
    if (auto e = side.map_anon(kBase, len, Huge::kYes, &base); !e.empty()) return fail_setup(state, e);
    std::uint8_t v = 0;
    double thp = -1;
    bool first = true;
    run_loop(
        state, blocks * kPagesPerPmd / 2,
        [&] {
          // A split leaves a PTE table behind, where no THP can be mapped
          // again: start from a fresh area each time.
          if (!first) {
            if (auto e = side.unmap(base, len); !e.empty()) return e;
            if (auto e = side.map_anon(kBase, len, Huge::kYes, &base); !e.empty()) return e;
          }
          first = false;
          std::string e = touch_pages(side, base, blocks, kPmdSize, v = next_value(v));
          if (thp < 0) thp = static_cast<double>(side.thp_blocks(base, blocks)) / static_cast<double>(blocks);
          return e;
        },
        [&] {
          bool ok = true;
          for (std::uint64_t i = 0; i < blocks; ++i) ok &= side.zap(base, base + i * kPmdSize, kPmdSize / 2);
          return ok;
        });
    state.counters["thp_blocks"] = thp;
    state.SetComplexityN(static_cast<std::int64_t>(blocks));
  }
};

// The same leaf clearing through munmap: populate, then munmap (timed) and
// map the area again (untimed). Tables go too, which a zap leaves.
template <class Side>
struct Munmap {
  static void run(benchmark::State& state) {
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = pages * kPageSize;
    Side side;
    Addr base = 0;
    if (auto e = side.map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return fail_setup(state, e);
    std::uint8_t v = 0;
    bool mapped = true;
    run_loop(
        state, pages,
        [&] {
          if (!mapped) {
            if (auto e = side.map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return e;
            mapped = true;
          }
          return touch_pages(side, base, pages, kPageSize, v = next_value(v));
        },
        [&] {
          mapped = false;
          return side.unmap(base, len).empty();
        });
    state.SetComplexityN(static_cast<std::int64_t>(pages));
  }
};

// ... and through exit: a fresh address space per iteration, populated,
// then its last user goes (timed: exit_mmap and the mm's free).
template <class Side>
struct ExitMmap {
  static void run(benchmark::State& state) {
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t len = pages * kPageSize;
    std::optional<Side> side;
    std::uint8_t v = 0;
    run_loop(
        state, pages,
        [&] {
          side.emplace();
          Addr base = 0;
          if (auto e = side->map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return e;
          return touch_pages(*side, base, pages, kPageSize, v = next_value(v));
        },
        [&] { return side->exit(); });
    state.SetComplexityN(static_cast<std::int64_t>(pages));
  }
};

// The host kernel's exit_mmap is a process's exit: a child -- this binary
// run again with kExitChildFlag, so that its address space is its own and
// not a copy of this one -- maps and populates the area, then exits when
// told; timed from the word to the parent's waitpid, so the row includes
// the rest of a small process's exit (a constant visible at small sizes).
constexpr const char* kExitChildFlag = "--mmv_exit_child";

// The child's side (main() calls it): argv = pages value ready_fd go_fd.
int exit_child(char** argv) {
  const std::uint64_t pages = std::strtoull(argv[0], nullptr, 10);
  const auto v = static_cast<std::uint8_t>(std::strtoul(argv[1], nullptr, 10));
  const int ready = std::atoi(argv[2]), go = std::atoi(argv[3]);
  void* p = ::mmap(nullptr, pages * kPageSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  char ok = p != MAP_FAILED && ::madvise(p, pages * kPageSize, MADV_NOHUGEPAGE) == 0 ? 1 : 0;
  for (std::uint64_t i = 0; ok && i < pages; ++i) static_cast<volatile std::uint8_t*>(p)[i * kPageSize] = v;
  if (::write(ready, &ok, 1) != 1) return 1;
  char c;
  (void)!::read(go, &c, 1);
  return 0;
}

template <>
struct ExitMmap<KernelSide> {
  static void run(benchmark::State& state) {
    const auto pages = static_cast<std::uint64_t>(state.range(0));
    std::uint8_t v = 0;
    pid_t child = -1;
    int go = -1;
    auto reap = [&] {
      if (go >= 0) ::close(std::exchange(go, -1));  // EOF: the child exits
      if (child > 0) ::waitpid(std::exchange(child, -1), nullptr, 0);
    };
    run_loop(
        state, pages,
        [&]() -> std::string {
          int ready[2], gp[2];
          if (::pipe(ready) != 0) return errno_string("pipe");
          if (::pipe(gp) != 0) {
            std::string e = errno_string("pipe");
            for (int fd : ready) ::close(fd);
            return e;
          }
          v = next_value(v);
          const std::string args[] = {std::to_string(pages), std::to_string(v), std::to_string(ready[1]),
                                      std::to_string(gp[0])};
          child = ::fork();
          if (child < 0) {
            std::string e = errno_string("fork");
            for (int fd : {ready[0], ready[1], gp[0], gp[1]}) ::close(fd);
            return e;
          }
          if (child == 0) {
            ::close(ready[0]);
            ::close(gp[1]);
            const char* argv[] = {"zap_bench", kExitChildFlag, args[0].c_str(), args[1].c_str(),
                                  args[2].c_str(), args[3].c_str(), nullptr};
            ::execv("/proc/self/exe", const_cast<char**>(argv));
            ::_exit(127);
          }
          ::close(ready[1]);
          ::close(gp[0]);
          go = gp[1];
          char ok = 0;
          const bool got = ::read(ready[0], &ok, 1) == 1;
          ::close(ready[0]);
          if (!got || !ok) {
            reap();
            return "exit child could not populate";
          }
          return {};
        },
        [&] {
          const char c = 1;
          const bool wrote = ::write(go, &c, 1) == 1;
          const bool waited = ::waitpid(child, nullptr, 0) == child;
          child = -1;
          ::close(std::exchange(go, -1));
          return wrote && waited;
        });
    reap();
    state.SetComplexityN(static_cast<std::int64_t>(pages));
  }
};

// The fault side, so that a faster zap is not paid for there: `pages` CPU
// accesses (timed), each a fault, then a zap (untimed) for the next round.
//   AnonRead: maps the zero page; AnonWrite: a new anonymous page;
//   FileRead / FileWrite: a shared file mapping whose pages stay in the
//   page cache (read: maps the cached page, with fault-around; write: maps
//   it writable and dirties the folio).
enum class Access { kAnonRead, kAnonWrite, kFileRead, kFileWrite };

template <Access kAccess>
struct FaultScenario {
  template <class Side>
  struct On {
    static void run(benchmark::State& state) {
      const auto pages = static_cast<std::uint64_t>(state.range(0));
      const std::uint64_t len = pages * kPageSize;
      constexpr bool kFile = kAccess == Access::kFileRead || kAccess == Access::kFileWrite;
      constexpr bool kWrite = kAccess == Access::kAnonWrite || kAccess == Access::kFileWrite;
      Side side;
      Addr base = 0;
      if (auto e = kFile ? side.map_file_shared(kBase, pages, &base) : side.map_anon(kBase, len, Huge::kNo, &base);
          !e.empty())
        return fail_setup(state, e);
      std::uint8_t v = 0;
      for (auto _ : state) {
        v = next_value(v);
        bool ok = true;
        const auto t0 = Clock::now();
        for (std::uint64_t i = 0; i < pages; ++i)
          ok &= kWrite ? side.touch(base + i * kPageSize, v) : side.load(base + i * kPageSize);
        const auto t1 = Clock::now();
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
        if (!ok || !side.zap(base, base, len)) {
          state.SkipWithError("fault or zap failed");
          break;
        }
      }
      state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * pages));
    }
  };
};

// impl only: BM_ZapDense/impl while `readers` threads run lock_vma_under_rcu
// + read faults on four other VMAs of the same mm (each reader on a CPU of
// its own, walking pages it has not read yet, so every read faults). Each
// iteration measures both sides against themselves alone, interleaved so
// that drift on the machine hits both alike, and with every thread busy in
// every window, so that what differs is the mm's sharing, not how many
// cores are busy (on this benchmark's VMs a core slows by up to a tenth
// when its neighbour merely spins):
//   1. a zap with the readers spinning (busy, touching nothing)
//                                                -> the zap's solo rate
//   2. the readers alone, for as long as step 3's zap takes, with this
//      thread spinning                           -> the readers' solo rate
//   3. a zap with the readers running (the benchmark's Time) -> both rates
// Counters: zap_vs_solo = zap rate (3) / (1); reader_vs_solo = readers'
// operations per second in (3) / in (2); reader_ops = the readers' rate in
// (3). With more readers than free cores the OS, not the mm, decides.
class Readers {
 public:
  enum Mode : int { kPark, kSpin, kRun };

  Readers(impl::MmWithUser& mm, int n) : mm_(mm), count_(static_cast<std::size_t>(n)) {
    // Threads start counted as awake, and park at once (mode_ is kPark).
    awake_.store(n);
    for (int r = 0; r < n; ++r) threads_.emplace_back([this, r] { loop(r); });
  }
  ~Readers() {
    stop_.store(true);
    set_mode(kSpin);
    for (auto& t : threads_) t.join();
  }
  // Returns once every reader is in mode m. A reader just set running runs
  // cold for its first operations: set(kRun) returns once the readers have
  // done a few, so that no window counts them.
  void set(Mode m) {
    set_mode(m);
    const int want = m == kPark ? 0 : static_cast<int>(threads_.size());
    while (awake_.load() != want) {
    }
    if (m != kRun) return;
    const std::uint64_t warm = ops() + 16 * threads_.size();
    while (ops() < warm) {
    }
  }
  std::uint64_t ops() const {
    std::uint64_t n = 0;
    for (const auto& c : count_) n += c.v.load(std::memory_order_relaxed);
    return n;
  }
  std::uint64_t lookup_failures() const { return failures_.load(); }

 private:
  void loop(int r) {
    const std::uint64_t area_pages = kReaderAreaLen / kPageSize;
    const int cpu = 1 + r % (impl::Tlbs::kCpus - 1);  // CPU 0 is the zap's
    std::uint64_t i = static_cast<std::uint64_t>(r) * (area_pages / 4);
    std::uint64_t n = 0, failures = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      const int m = mode_.load(std::memory_order_relaxed);
      if (m == kPark) {
        awake_.fetch_sub(1);
        {
          std::unique_lock<std::mutex> g(park_mu_);
          park_cv_.wait(g, [&] { return mode_.load() != kPark; });
        }
        awake_.fetch_add(1);
        continue;
      }
      if (m == kSpin) continue;
      const Addr a = kReaderBase + (i % kReaderAreas) * kReaderStride + ((i / kReaderAreas) % area_pages) * kPageSize;
      ++i;
      if (!mm_.lock_vma_under_rcu(a)) ++failures;
      (void)mm_.read(a, cpu);
      count_[static_cast<std::size_t>(r)].v.store(++n, std::memory_order_relaxed);
    }
    failures_.fetch_add(failures);
  }

  void set_mode(Mode m) {
    {
      std::lock_guard<std::mutex> g(park_mu_);
      mode_.store(m);
    }
    park_cv_.notify_all();
  }

  struct alignas(64) Count {
    std::atomic<std::uint64_t> v{0};
  };
  std::mutex park_mu_;
  std::condition_variable park_cv_;
  impl::MmWithUser& mm_;
  std::vector<Count> count_;
  std::atomic<int> mode_{kPark};
  std::atomic<bool> stop_{false};
  std::atomic<int> awake_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::vector<std::thread> threads_;
};

void BM_ZapConcurrent(benchmark::State& state) {
  const auto pages = static_cast<std::uint64_t>(state.range(0));
  const auto nreaders = static_cast<int>(state.range(1));
  const std::uint64_t len = pages * kPageSize;
  ImplSide side;
  Addr base = 0;
  if (auto e = side.map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return fail_setup(state, e);
  for (std::uint64_t j = 0; j < kReaderAreas; ++j) {
    Addr a = 0;
    if (auto e = side.map_anon(kReaderBase + j * kReaderStride, kReaderAreaLen, Huge::kNo, &a); !e.empty())
      return fail_setup(state, e);
  }
  Readers readers(side.mm(), nreaders);
  double solo_zap = 0, solo_read_time = 0, concurrent_zap = 0;
  std::uint64_t solo_read_ops = 0, concurrent_read_ops = 0;
  std::uint8_t v = 0;
  auto populate = [&] { return touch_pages(side, base, pages, kPageSize, v = next_value(v)); };
  for (auto _ : state) {
    // Populating with the readers parked: it is not measured.
    readers.set(Readers::kPark);
    if (auto e = populate(); !e.empty()) {
      state.SkipWithError(e.c_str());
      break;
    }
    // 1. The zap alone.
    readers.set(Readers::kSpin);
    auto t0 = Clock::now();
    bool ok = side.zap(base, base, len);
    solo_zap += std::chrono::duration<double>(Clock::now() - t0).count();
    readers.set(Readers::kPark);
    if (auto e = populate(); !e.empty()) {
      state.SkipWithError(e.c_str());
      break;
    }
    // 3. The zap with the readers.
    readers.set(Readers::kRun);
    std::uint64_t o0 = readers.ops();
    t0 = Clock::now();
    ok &= side.zap(base, base, len);
    const auto t1 = Clock::now();
    concurrent_read_ops += readers.ops() - o0;
    const double zap_time = std::chrono::duration<double>(t1 - t0).count();
    concurrent_zap += zap_time;
    state.SetIterationTime(zap_time);
    // 2. The readers alone, as long.
    o0 = readers.ops();
    t0 = Clock::now();
    while (std::chrono::duration<double>(Clock::now() - t0).count() < zap_time) {
    }
    solo_read_ops += readers.ops() - o0;
    solo_read_time += std::chrono::duration<double>(Clock::now() - t0).count();
    if (!ok) {
      state.SkipWithError("zap failed");
      break;
    }
  }
  readers.set(Readers::kPark);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * pages));
  if (concurrent_zap > 0 && solo_zap > 0) state.counters["zap_vs_solo"] = solo_zap / concurrent_zap;
  if (solo_read_ops > 0 && concurrent_zap > 0) {
    state.counters["reader_vs_solo"] =
        (static_cast<double>(concurrent_read_ops) / concurrent_zap) / (static_cast<double>(solo_read_ops) / solo_read_time);
  }
  state.counters["reader_ops"] = benchmark::Counter(static_cast<double>(concurrent_read_ops), benchmark::Counter::kIsRate);
  state.counters["reader_lookup_fail"] = static_cast<double>(readers.lookup_failures());
}

// ---- Registration -----------------------------------------------------------

using Family = benchmark::internal::Benchmark;

// Registers "<scenario>/impl", "/model" and "/kernel", in that order, each
// with manual time and then configure(family) for its arguments.
template <template <class> class Scenario, class Configure>
void register_sides(const char* scenario, Configure configure) {
  const std::string s(scenario);
  configure(benchmark::RegisterBenchmark((s + "/impl").c_str(), &Scenario<ImplSide>::run)->UseManualTime());
  configure(benchmark::RegisterBenchmark((s + "/model").c_str(), &Scenario<ModelSide>::run)->UseManualTime());
  configure(benchmark::RegisterBenchmark((s + "/kernel").c_str(), &Scenario<KernelSide>::run)->UseManualTime());
}

void register_all() {
  register_sides<ZapDense>("BM_ZapDense", [](Family* b) {
    b->Arg(1)->Arg(16)->Arg(512)->Arg(4096)->Arg(65536)->Arg(262144)->Complexity();
  });
  register_sides<ZapSparse>("BM_ZapSparse", [](Family* b) { b->Arg(1)->Arg(16)->Arg(256)->Arg(1024)->Complexity(); });
  register_sides<ZapSparse2M>("BM_ZapSparse2M", [](Family* b) { b->Arg(512); });
  // No Complexity() here: libbenchmark 1.7.1 crashes (Runs.front() of an
  // empty list) when every run of a Complexity family stopped with an error,
  // which is exactly what lost data does to this family.
  register_sides<ZapFileDirty>("BM_ZapFileDirty", [](Family* b) { b->Arg(512)->Arg(4096)->Arg(16384); });
  register_sides<ZapThpWhole>("BM_ZapThpWhole",
                              [](Family* b) { b->Arg(1)->Arg(8)->Arg(32)->Complexity()->MinTime(kThpMinTime); });
  register_sides<ZapThpSplit>("BM_ZapThpSplit",
                              [](Family* b) { b->Arg(1)->Arg(8)->Arg(32)->Complexity()->MinTime(kThpMinTime); });
  register_sides<Munmap>("BM_Munmap", [](Family* b) { b->Arg(16)->Arg(512)->Arg(4096)->Arg(65536)->Complexity(); });
  register_sides<ExitMmap>("BM_ExitMmap", [](Family* b) { b->Arg(16)->Arg(512)->Arg(4096)->Arg(65536)->Complexity(); });
  auto faults = [](Family* b) { b->Arg(512)->Arg(4096); };
  register_sides<FaultScenario<Access::kAnonRead>::On>("BM_FaultAnonRead", faults);
  register_sides<FaultScenario<Access::kAnonWrite>::On>("BM_FaultAnonWrite", faults);
  register_sides<FaultScenario<Access::kFileRead>::On>("BM_FaultFileRead", faults);
  register_sides<FaultScenario<Access::kFileWrite>::On>("BM_FaultFileWrite", faults);
  benchmark::RegisterBenchmark("BM_ZapConcurrent/impl", &BM_ZapConcurrent)
      ->UseManualTime()
      ->ArgNames({"pages", "readers"})
      ->ArgsProduct({{512, 4096, 65536}, {1}});
  // More readers than this machine's spare cores: every mode switch waits
  // for the OS to run a descheduled reader, so these run a fixed number of
  // iterations instead of until a minimum time.
  benchmark::RegisterBenchmark("BM_ZapConcurrent/impl", &BM_ZapConcurrent)
      ->UseManualTime()
      ->ArgNames({"pages", "readers"})
      ->ArgsProduct({{512, 4096, 65536}, {2, 4}})
      ->Iterations(kOversubscribedIterations);
}

}  // namespace
}  // namespace mmv::bench

int main(int argc, char** argv) {
  if (argc == 6 && std::string_view(argv[1]) == mmv::bench::kExitChildFlag) return mmv::bench::exit_child(argv + 2);
  return mmv::bench::benchmark_main(argc, argv,
                                    "zap_bench: the zap path timed on the impl, the model and this machine's kernel, one row each.\nManual: docs/benchmarks.md.",
                                    mmv::bench::kDefaultMinTime, mmv::bench::register_all);
}
