// replay: replays regression files (regressions/README.md) against the
// model and the implementation, comparing after every command exactly as the
// model-vs-impl property does (testing/compare.h).
//
//   replay FILE...
//
// A file passes when every command agrees. A file whose header names a fault
// ("# fault: kZapForgetsDirty") must also still catch it: replayed again with
// that fault switched on (impl/fault_switch.h), some command must disagree.
// Exit status: 0 all passed, 1 a file failed, 2 a file could not be read or
// parsed, or names no known fault.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>
#include <string>

#include "impl/fault_switch.h"
#include "testing/command_text.h"
#include "testing/compare.h"

namespace {

using namespace mmv;

// 0 passed, 1 failed, 2 unusable.
int replay_file(const std::string& path) {
  std::string error;
  const std::optional<cmd::CommandFile> file = cmd::load_command_file(path, "model-vs-impl", &error);
  if (!file) {
    std::cerr << "replay: " << error << "\n";
    return 2;
  }
  const cmd::Replayed plain = cmd::replay_commands(file->commands);
  if (plain.mismatch) {
    std::cout << "FAIL " << path << ": " << *plain.mismatch << "\n";
    return 1;
  }
  std::cout << "ok   " << path << ": " << file->commands.size() << " commands agree";
  const auto fault = file->header.find("fault");
  if (fault == file->header.end()) {
    std::cout << "\n";
    return 0;
  }
  const std::optional<impl::Fault> f = impl::fault_from_name(fault->second);
  if (!f) {
    std::cout << "\n";
    std::cerr << "replay: " << path << ": '# fault: " << fault->second
              << "' names no fault; the faults are: " << impl::all_fault_names() << "\n";
    return 2;
  }
#if MMV_FAULTS
  cmd::Replayed faulty;
  {
    impl::ScopedFault on(*f);
    faulty = cmd::replay_commands(file->commands);
  }
  if (!faulty.mismatch) {
    std::cout << "\nFAIL " << path << ": with " << fault->second
              << " on, every command still agrees: the file no longer catches its fault\n";
    return 1;
  }
  std::cout << "; with " << fault->second << " on, caught at command " << faulty.ran << "\n";
#else
  std::cout << " (this build has no fault switch: " << fault->second << " not replayed)\n";
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A file's fault comes from its header, never from MMV_FAULT; a name
  // that is no fault still fails (exit 2), as in every other binary, so
  // that `MMV_FAULT=kTypo ctest` fails here too.
  (void)impl::fault_from_env_or_exit();
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help") {
      std::cout << "usage: " << argv[0] << " FILE...\n"
                << "Replays regression files (*.mmv) on the model and the impl, compared after every command.\n"
                   "Manual: docs/properties.md (the regression corpus); the format: regressions/README.md.\n";
      return 0;
    } else if (argv[i][0] == '-') {
      std::cerr << "replay: unknown option '" << argv[i] << "'; replay takes regression files only\n";
      return 2;
    }
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " FILE...   (regression files, see regressions/README.md)\n";
    return 2;
  }
  int worst = 0;
  for (int i = 1; i < argc; ++i) worst = std::max(worst, replay_file(argv[i]));
  return worst;
}
