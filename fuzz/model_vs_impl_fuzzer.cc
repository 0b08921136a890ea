// libFuzzer target: model vs impl over the shared command vocabulary, with
// the full comparison after every command (testing/compare.h), under ASan
// and UBSan (the `fuzz` preset).
//
// An input that is a regression file (it starts with "# kind: model-vs-impl")
// is read as text, so regressions/ is the seed corpus as it stands; any other
// input is decoded from bytes (testing/command_bytes.h; run with
// -dict=fuzz/model_vs_impl.dict, whole commands as bytes). Commands whose
// precondition does not hold (a put without a reference) are skipped, as the
// property's generator skips them. A mismatch prints the regression file of
// the commands run and aborts, which libFuzzer reports as a crash.
//
// MMV_FAULT=<fault_name> switches a fault of impl/fault_switch.h on for the
// whole run, to measure how fast the fuzzer finds it. MMV_FUZZ_SHOW=1 prints
// each command run and its outcome (to see what an input decodes to:
// model_vs_impl_fuzzer FILE). A byte input ends with mmput until no user
// reference is left, as a process exits.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "impl/fault_switch.h"
#include "testing/command_bytes.h"
#include "testing/command_text.h"
#include "testing/compare.h"

namespace {

using namespace mmv;

// A regression file's commands, or nullopt for a byte input.
std::optional<std::vector<cmd::Command>> text_commands(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.rfind("# kind: model-vs-impl", 0) != 0) return std::nullopt;
  std::string error;
  if (auto file = cmd::parse_command_file(text, &error)) return file->commands;
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  [[maybe_unused]] const std::optional<impl::Fault> f = impl::fault_from_env_or_exit();
#if MMV_FAULTS
  if (f) {
    static impl::ScopedFault on(*f);
    std::fprintf(stderr, "model_vs_impl_fuzzer: fault %s is on\n", impl::fault_name(*f));
  }
#endif
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::optional<std::vector<cmd::Command>> text = text_commands(data, size);
  static const bool show = std::getenv("MMV_FUZZ_SHOW") != nullptr;
  cmd::ModelRunner model;
  cmd::ImplRunner impl;
  std::vector<cmd::Command> ran;
  // Runs `c` on both sides (if its precondition holds); a disagreement
  // prints the regression file of the commands run and aborts.
  auto run = [&](const cmd::Command& c) {
    if (!cmd::precondition(c, model.holdings())) return;
    ran.push_back(c);
    const cmd::StepResult r = cmd::step_and_compare(c, model, impl);
    if (show) std::fprintf(stderr, "%s => %s\n", cmd::to_string(c).c_str(), r.model.c_str());
    if (!r.mismatch) return;
    std::fprintf(stderr, "MODEL AND IMPL DISAGREE: %s\n\nregression file (save as regressions/<name>.mmv):\n%s\n",
                 r.mismatch->c_str(), cmd::regression_file(ran, *r.mismatch).c_str());
    std::fflush(stderr);
    std::abort();
  };
  if (text) {
    for (const cmd::Command& c : *text) run(c);
    return 0;
  }
  cmd::CommandDecoder bytes(data, size);
  while (!bytes.done()) run(bytes.next(model.system()));
  // A byte input ends as a process does: the user references it still
  // holds are dropped, so teardown (exit_mmap: unmap, write back) runs on
  // whatever state the input built and is compared too. Without this, a
  // teardown bug needed an mmput byte right after the state that shows it,
  // and was found in minutes instead of seconds. Each mmput drops one
  // reference (cmd::account), so this ends.
  cmd::Command exit;
  exit.op = cmd::Op::kMmput;
  while (model.holdings().users > 0) run(exit);
  return 0;
}
