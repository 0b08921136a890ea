// concurrent_oracle: the concurrent kernel oracle (concurrent_oracle.h) from
// the command line, and the replay of the histories it writes.
//
//   concurrent_oracle run [--seconds S] [--seed N] [--threads N]
//                         [--ops-per-epoch N] [--strictness S] [--out DIR]
//                         [--no-pin]
//   concurrent_oracle replay [--strictness S] [--html FILE] FILE...
//
// Exit status: 0 every history linearizable, 1 a finding (run) or a history
// rejected (replay), 2 a usage error, a file that cannot be read, or a run
// that could not start.
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "impl/fault_switch.h"
#include "model/oracle/concurrent_oracle.h"
#include "testing/cli.h"

namespace {

constexpr std::string_view kProgram = "concurrent_oracle";

const char* const kUsage =
    "usage: concurrent_oracle run [--seconds S] [--seed N] [--threads N] [--ops-per-epoch N]\n"
    "                             [--strictness S] [--out DIR] [--no-pin]\n"
    "       concurrent_oracle replay [--strictness S] [--html FILE] FILE...\n"
    "\n"
    "run: threads of this process run reads, writes, zaps (madvise DONTNEED), mprotects and\n"
    "munmap + mmap on an anonymous, a shared-file and a private-file VMA of this machine's\n"
    "kernel; every epoch's history is checked against ZapSpec and the reference model.\n"
    "Prints the operations, the overlaps reached and every finding, with the history files\n"
    "(whole and shrunk, lincheck's EDN lines) and the line that replays them.\n"
    "  --seconds        how long, > 0 (default 10)\n"
    "  --seed           the command streams' seed (default 1)\n"
    "  --threads        2 to 4 (default: the CPUs this process may use, clamped to 2..4)\n"
    "  --ops-per-epoch  commands per thread per epoch, 1 to 4096 (default 64)\n"
    "  --strictness     exact (the specification), or a deliberately wrong one:\n"
    "                   zap-at-return, downgrade-at-call (default exact)\n"
    "  --out            where history files go (default $MMV_ORACLE_OUT_DIR, else the temp dir)\n"
    "  --no-pin         do not pin each thread to a CPU\n"
    "replay: checks history files again, as the run did; --html writes the timeline of the\n"
    "first rejected one.\n"
    "Manual: docs/oracle.md.\n";

int run(const std::vector<mmv::cli::Option>& options) {
  using namespace mmv;
  oracle::ConcurrentConfig cfg;
  auto get = [](auto parsed) { return cli::or_exit(std::move(parsed), kProgram); };
  for (const cli::Option& o : options) {
    const std::string& n = o.name;
    const std::string& v = o.value;
    if (n.empty()) cli::usage_exit(kProgram, "run takes no file arguments ('" + o.raw + "')");
    else if (n == "--seconds") cfg.seconds = get(cli::parse_seconds(n, v));
    else if (n == "--seed") cfg.seed = get(cli::parse_seed(n, v));
    else if (n == "--threads") cfg.threads = static_cast<int>(get(cli::parse_uint(n, v, 2, 4)));
    else if (n == "--ops-per-epoch") cfg.ops_per_epoch = static_cast<int>(get(cli::parse_uint(n, v, 1, 4096)));
    else if (n == "--strictness")
      cfg.strictness = *oracle::parse_strictness(
          get(cli::parse_choice(n, v, {"exact", "zap-at-return", "downgrade-at-call"})));
    else if (n == "--out") cfg.out_dir = v;
    else if (n == "--no-pin") cfg.pin = false;
    else cli::usage_exit(kProgram, cli::unknown_option(n, {"--seconds", "--seed", "--threads", "--ops-per-epoch",
                                                           "--strictness", "--out", "--no-pin"}));
  }
  const oracle::ConcurrentReport rep = oracle::run_concurrent(cfg);
  if (!rep.setup_error.empty()) {
    std::cerr << "concurrent_oracle: cannot run: " << rep.setup_error << "\n";
    return cli::kUsageError;
  }
  std::cout << "seed " << cfg.seed << ", specification " << oracle::strictness_name(cfg.strictness) << ": "
            << rep.summary();
  for (const std::string& f : rep.findings) std::cout << "FINDING " << f;
  std::cout << (rep.findings.empty() ? "PASS: every history linearizable\n"
                                     : "FAIL: " + std::to_string(rep.findings.size()) + " finding(s)\n");
  return rep.findings.empty() ? 0 : 1;
}

int replay(const std::vector<mmv::cli::Option>& options) {
  using namespace mmv;
  oracle::Strictness strictness = oracle::Strictness::kExact;
  std::string html;
  std::vector<std::string> files;
  auto get = [](auto parsed) { return cli::or_exit(std::move(parsed), kProgram); };
  for (const cli::Option& o : options) {
    if (o.name.empty()) files.push_back(o.value);
    else if (o.name == "--strictness")
      strictness = *oracle::parse_strictness(
          get(cli::parse_choice(o.name, o.value, {"exact", "zap-at-return", "downgrade-at-call"})));
    else if (o.name == "--html") html = o.value;
    else cli::usage_exit(kProgram, cli::unknown_option(o.name, {"--strictness", "--html"}));
  }
  if (files.empty()) cli::usage_exit(kProgram, "replay needs at least one history file");
  int worst = 0;
  for (const std::string& path : files) {
    std::ifstream in(path);
    if (!in) {
      std::cerr << "concurrent_oracle: cannot read " << path << "\n";
      worst = 2;
      continue;
    }
    std::string error;
    const std::optional<oracle::EpochHistory> h = oracle::read_history(in, &error);
    if (!h) {
      std::cerr << "concurrent_oracle: " << path << ": " << error << "\n";
      worst = 2;
      continue;
    }
    const oracle::EpochVerdict v = oracle::check_epoch(*h, strictness);
    if (v.verdict == stress::Verdict::kLinearizable) {
      std::cout << "ok   " << path << ": " << h->ops.size() << " operations, linearizable\n";
      continue;
    }
    std::cout << "FAIL " << path << ": " << v.failure << "\n";
    worst = std::max(worst, 1);
    if (!html.empty() && v.verdict == stress::Verdict::kNotLinearizable && !v.result.placed.empty()) {
      std::ofstream(html) << stress::timeline_html(v.part, v.result, "concurrent kernel oracle: " + path, v.failure);
      std::cout << "timeline: " << html << "\n";
      html.clear();
    }
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mmv;
  (void)impl::fault_from_env_or_exit();  // no fault applies here; a typo still fails
  const cli::Parsed<std::vector<cli::Option>> split = cli::split_options(argc, argv, {"--help", "--no-pin"});
  if (!split.value) cli::usage_exit(kProgram, split.error);
  std::vector<cli::Option> options = *split.value;
  for (const cli::Option& o : options)
    if (o.name == "--help") {
      std::cout << kUsage;
      return 0;
    }
  if (options.empty() || !options[0].name.empty() || (options[0].value != "run" && options[0].value != "replay"))
    cli::usage_exit(kProgram, "the first argument must be 'run' or 'replay'; see --help");
  const std::string mode = options[0].value;
  options.erase(options.begin());
  return mode == "run" ? run(options) : replay(options);
}
