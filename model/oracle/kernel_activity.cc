#include "model/oracle/kernel_activity.h"

#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace mmv::oracle {
namespace {

// Counter names (or prefixes, ending in '_') of page migration (and
// compaction's isolation of pages to migrate, counted before it moves them),
// reclaim, dropped caches and THP collapse and split; /proc/vmstat's names since
// Linux 5.x. A counter this kernel lacks is simply absent.
constexpr std::string_view kWatched[] = {
    "pgmigrate_",     "compact_isolated",   "thp_migration_", "numa_pages_migrated",
    "pgsteal_",       "pgdemote_",          "pgpromote_",     "drop_pagecache",
    "thp_collapse_alloc", "thp_split_page", "thp_deferred_split_page",
};

bool watched(std::string_view name) {
  for (std::string_view w : kWatched) {
    if (w.back() == '_' ? name.rfind(w, 0) == 0 : name == w) return true;
  }
  return false;
}

constexpr int kSettleReads = 25;
constexpr int kStableReads = 3;

// The counters once kStableReads reads in a row, a pause apart, agree (or
// after kSettleReads reads).
std::optional<KernelActivity> settled(const ActivitySource& kernel) {
  std::optional<KernelActivity> last = kernel.read();
  int same = 1;
  for (int i = 1; i < kSettleReads && last && same < kStableReads; ++i) {
    kernel.pause();
    std::optional<KernelActivity> next = kernel.read();
    if (!next) return next;
    same = *next == *last ? same + 1 : 1;
    last = std::move(next);
  }
  return last;
}

}  // namespace

KernelActivity parse_vmstat(std::string_view text) {
  KernelActivity a;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, sp), value = line.substr(sp + 1);
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || end != value.data() + value.size() || !watched(name)) continue;
    a.counters.emplace_back(std::string(name), v);
  }
  return a;
}

std::optional<KernelActivity> read_kernel_activity() {
  std::ifstream in("/proc/vmstat");
  if (!in) return std::nullopt;
  std::ostringstream os;
  os << in.rdbuf();
  if (!in.good() && !in.eof()) return std::nullopt;
  KernelActivity a = parse_vmstat(os.str());
  if (a.counters.empty()) return std::nullopt;  // not the file we know: no judgement
  return a;
}

std::string activity_between(const KernelActivity& before, const KernelActivity& after) {
  std::string out;
  for (const auto& [name, v] : after.counters) {
    std::uint64_t was = v;
    for (const auto& [n, b] : before.counters) {
      if (n == name) {
        was = b;
        break;
      }
    }
    if (v == was) continue;
    if (!out.empty()) out += ", ";
    out += name + (v > was ? " +" + std::to_string(v - was) : " -" + std::to_string(was - v));
  }
  return out;
}

ActivitySource this_kernel() {
  return {read_kernel_activity, [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }};
}

ConfirmedRun run_confirmed(const std::function<std::optional<std::string>()>& run, const ActivitySource& kernel) {
  ConfirmedRun r;
  while (true) {
    const std::optional<KernelActivity> before = kernel.read();
    std::optional<std::string> report = run();
    ++r.runs;
    if (!report) return r;
    const std::optional<KernelActivity> after = before ? settled(kernel) : std::nullopt;
    const std::string busy = before && after ? activity_between(*before, *after) : "";
    if (busy.empty() || r.runs == kMaxOracleRuns) {
      std::string note;
      if (!r.busy.empty()) {
        note = "\n(run " + std::to_string(r.runs) + " of this sequence; the " + std::to_string(r.busy.size()) +
               " before it disagreed too, while the kernel was busy:";
        for (const std::string& b : r.busy) note += "\n  " + b;
        note += ")";
      }
      if (!busy.empty()) {
        note += "\n(the kernel was busy during this run as well: " + busy + "; all " +
                std::to_string(kMaxOracleRuns) +
                " runs disagreed, so the sequence is reported, but a quiet machine may not repeat it)";
      }
      r.report = *report + note;
      return r;
    }
    r.busy.push_back(busy);
  }
}

}  // namespace mmv::oracle
