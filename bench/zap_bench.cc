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
//   BM_ZapConcurrent/impl/<pages>    BM_ZapDense/impl while another thread
//                                    loops lock_vma_under_rcu + read faults
//                                    on four other VMAs; reader_ops = the
//                                    reader's operations per second of zap
//                                    time (compare with BM_ZapDense/impl)
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
// two minutes. The kernel's THP populate costs ~70x its zap (a 2 MiB page
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
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

// impl only: BM_ZapDense/impl with a concurrent reader on other VMAs of the
// same mm. One reader operation = lock_vma_under_rcu on the next page of the
// next reader area, guard dropped, then a read of that page (a read fault
// mapping the zero page, as long as the 256 GiB of reader areas last).
void BM_ZapConcurrent(benchmark::State& state) {
  const auto pages = static_cast<std::uint64_t>(state.range(0));
  const std::uint64_t len = pages * kPageSize;
  ImplSide side;
  Addr base = 0;
  if (auto e = side.map_anon(kBase, len, Huge::kNo, &base); !e.empty()) return fail_setup(state, e);
  for (std::uint64_t j = 0; j < kReaderAreas; ++j) {
    Addr a = 0;
    if (auto e = side.map_anon(kReaderBase + j * kReaderStride, kReaderAreaLen, Huge::kNo, &a); !e.empty())
      return fail_setup(state, e);
  }
  impl::MmWithUser& mm = side.mm();
  std::atomic<bool> stop{false};
  alignas(64) std::atomic<std::uint64_t> ops{0};
  std::uint64_t lookup_failures = 0;
  const std::uint64_t area_pages = kReaderAreaLen / kPageSize;
  std::thread reader([&] {
    std::uint64_t n = 0, failures = 0;
    for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      const Addr a = kReaderBase + (i % kReaderAreas) * kReaderStride + ((i / kReaderAreas) % area_pages) * kPageSize;
      if (!mm.lock_vma_under_rcu(a)) ++failures;
      (void)mm.read(a);
      ops.store(++n, std::memory_order_relaxed);
    }
    lookup_failures = failures;
  });
  const auto wall0 = Clock::now();
  std::uint64_t during_zap = 0;
  std::uint8_t v = 0;
  run_loop(
      state, pages, [&] { return touch_pages(side, base, pages, kPageSize, v = next_value(v)); },
      [&] {
        const std::uint64_t o0 = ops.load(std::memory_order_relaxed);
        const bool ok = side.zap(base, base, len);
        during_zap += ops.load(std::memory_order_relaxed) - o0;
        return ok;
      });
  stop.store(true, std::memory_order_relaxed);
  reader.join();
  const double wall = std::chrono::duration<double>(Clock::now() - wall0).count();
  // Reader operations completed while a zap ran, per second of zap time.
  state.counters["reader_ops"] = benchmark::Counter(static_cast<double>(during_zap), benchmark::Counter::kIsRate);
  // The reader's throughput over the whole run (populates included).
  state.counters["reader_ops_all"] = static_cast<double>(ops.load()) / wall;
  state.counters["reader_lookup_fail"] = static_cast<double>(lookup_failures);
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
  benchmark::RegisterBenchmark("BM_ZapConcurrent/impl", &BM_ZapConcurrent)->UseManualTime()->Arg(512)->Arg(4096)->Arg(65536);
}

}  // namespace
}  // namespace mmv::bench

int main(int argc, char** argv) {
  // This binary's default min time, unless the command line sets one.
  std::vector<char*> args(argv, argv + argc);
  bool has_min_time = false;
  for (int i = 1; i < argc; ++i)
    has_min_time |= std::string_view(argv[i]).starts_with("--benchmark_min_time=");
  std::string min_time = mmv::bench::kDefaultMinTime;
  if (!has_min_time) args.insert(args.begin() + 1, min_time.data());
  args.push_back(nullptr);
  int n = static_cast<int>(args.size()) - 1;
  mmv::bench::register_all();
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
