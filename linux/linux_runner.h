// LinuxRunner: applies commands (testing/command.h) to Linux's own mm/vma.c
// (linux/vma_shim.h), and the comparison of its VMA tree with the model's.
// docs/linux.md says what is checked and why.
//
// Only the commands that change the VMA tree mean something here: mmap
// (MAP_FIXED_NOREPLACE, anonymous private or a file, with HUGEPAGE advice),
// munmap, mprotect, and a store, whose fault gives a private VMA its
// anon_vma. The generator for this side (props::gen_vma_command) makes no
// others; a runner refuses them.
//
// Thread safety: none; one runner per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/vma.h"
#include "testing/command.h"
#include "testing/compare.h"
#include "testing/model_runner.h"

struct mmv_linux_mm;

namespace mmv::linux_side {

// Whether this side runs `c` (the commands above, with a fixed address).
bool covers(const cmd::Command& c);

// The model's rules for the tree built in (model::KernelRules; what
// linux/CMakeLists.txt found in its mm/vma.c).
model::KernelRules tree_rules();

// A model that follows the tree's rules, as every comparison here uses.
cmd::ModelRunner tree_model();

class LinuxRunner {
 public:
  LinuxRunner();  // throws std::bad_alloc when the shim cannot make an mm
  ~LinuxRunner();
  LinuxRunner(const LinuxRunner&) = delete;
  LinuxRunner& operator=(const LinuxRunner&) = delete;

  // REQUIRES: covers(c). The outcome, in the model's words for mmap, munmap
  // and mprotect ("ok 0x40000000", "error EEXIST"); "fault" or "error
  // SIGSEGV" for a store (the model's answer to a store also depends on
  // pages and files, which are not modelled here, so it is not compared).
  std::string apply(const cmd::Command& c);

  // The VMAs, as model Vmas: files named as `model` names its file slots,
  // anon_vmas numbered 1, 2, ... by first appearance in address order.
  std::vector<Vma> vmas(const cmd::ModelRunner& model) const;

  // A kernel warning (WARN_ON, VM_WARN_ON) since the last call, if any.
  std::optional<std::string> take_warning();

 private:
  mmv_linux_mm* mm_;
};

// The model's VMAs in the same form (anon_vmas renumbered the same way).
std::vector<Vma> model_vmas(const cmd::ModelRunner& model);

// One step: `c` on both sides; then both must have answered the same (for
// mmap, munmap and mprotect), mm/vma.c must have raised no warning, and
// the VMA lists must be equal.
// REQUIRES: covers(c), cmd::precondition(c, model.holdings()).
cmd::StepResult step_and_compare(const cmd::Command& c, cmd::ModelRunner& model, LinuxRunner& side);

// A whole sequence on fresh runners, up to the first mismatch.
cmd::Replayed replay_commands(const std::vector<cmd::Command>& commands);

}  // namespace mmv::linux_side
