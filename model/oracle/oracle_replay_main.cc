// oracle_replay: replays kernel-oracle regression files (regressions/*.oracle,
// see regressions/README.md) on the model and on this machine's kernel, with
// every comparison of the kernel oracle (kernel_oracle_test.cc) after every op.
//
//   oracle_replay FILE...
//
// Exit status: 0 all agreed, 1 a file disagreed, 2 a file could not be read
// or parsed.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "impl/fault_switch.h"
#include "model/oracle/kernel_oracle.h"
#include "model/oracle/oracle_op.h"

int main(int argc, char** argv) {
  using namespace mmv::oracle;
  // No fault applies to the model and the kernel; a name that is no fault
  // still fails (exit 2), so that `MMV_FAULT=kTypo ctest` fails here too.
  (void)mmv::impl::fault_from_env_or_exit();
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help") {
      std::cout << "usage: " << argv[0] << " FILE...\n"
                << "Replays kernel-oracle regression files (*.oracle) on the model and this machine's kernel.\n"
                   "Manual: docs/oracle.md; the format: regressions/README.md.\n";
      return 0;
    } else if (argv[i][0] == '-') {
      std::cerr << "oracle_replay: unknown option '" << argv[i] << "'; oracle_replay takes regression files only\n";
      return 2;
    }
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " FILE...   (kernel-oracle regression files, see regressions/README.md)\n";
    return 2;
  }
  int worst = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i]);
    if (!in) {
      std::cerr << "oracle_replay: cannot read " << argv[i] << "\n";
      worst = 2;
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string error;
    const std::optional<OracleFile> file = parse_oracle_file(text.str(), &error);
    if (!file || file->header.count("kind") == 0 || file->header.at("kind") != "oracle" || file->seq.ops.empty()) {
      std::cerr << "oracle_replay: " << argv[i] << ": "
                << (file ? "needs '# kind: oracle' and at least one op" : error) << "\n";
      worst = 2;
      continue;
    }
    if (const auto report = run_sequence(file->seq)) {
      std::cout << "FAIL " << argv[i] << ":\n" << *report << "\n";
      worst = std::max(worst, 1);
    } else {
      std::cout << "ok   " << argv[i] << ": " << file->seq.ops.size() << " ops agree with the kernel\n";
    }
  }
  return worst;
}
