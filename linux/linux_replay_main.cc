// linux_replay: replays regression files of the linux side (regressions/
// *.linux, header "# kind: model-vs-linux") against the model and Linux's
// own mm/vma.c, comparing after every command as linux_test does.
//
//   linux_replay FILE...
//
// Exit status: 0 all passed, 1 a file failed, 2 a file could not be read or
// parsed. Manual: docs/linux.md.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "linux/linux_runner.h"
#include "testing/command_text.h"

namespace {

using namespace mmv;

int replay_file(const std::string& path) {
  std::string error;
  const std::optional<cmd::CommandFile> file = cmd::load_command_file(path, "model-vs-linux", &error);
  if (!file) {
    std::cerr << "linux_replay: " << error << "\n";
    return 2;
  }
  const cmd::Replayed r = linux_side::replay_commands(file->commands);
  if (r.mismatch) {
    std::cout << "FAIL " << path << ": " << *r.mismatch << "\n";
    return 1;
  }
  std::cout << "ok   " << path << ": " << file->commands.size() << " commands agree\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help") {
      std::cout << "usage: " << argv[0] << " FILE...\n"
                << "Replays regression files of the linux side (*.linux) on the model and Linux's mm/vma.c.\n"
                   "Manual: docs/linux.md; the format: regressions/README.md.\n";
      return 0;
    }
    if (argv[i][0] == '-') {
      std::cerr << "linux_replay: unknown option '" << argv[i] << "'; linux_replay takes regression files only\n";
      return 2;
    }
  }
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " FILE...   (regression files of the linux side, see regressions/README.md)\n";
    return 2;
  }
  int worst = 0;
  for (int i = 1; i < argc; ++i) worst = std::max(worst, replay_file(argv[i]));
  return worst;
}
