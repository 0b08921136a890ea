// ImplRunner: applies commands (testing/command.h) to the implementation,
// through its public, Rust-shaped API: guards, VmaRef, ARef handles.
//
// It holds the Kernel, an ARef<Mm> "observer" reference for the whole run
// (so a torn-down mm can still be observed), and the user / grab references
// the commands take and drop. Operations that need an address space use a
// held user reference; with none left they answer NO_USER, as the model
// does. mmput_async waits for the worker, so that the outcome is the
// model's.
//
// Thread safety: apply() may be called from several threads at once only
// for the commands that do not change Holdings (everything but the lifetime
// ones and alloc/put_page); stress tests use it that way.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "impl/kernel.h"
#include "impl/mm.h"
#include "model/system.h"
#include "testing/command.h"

namespace mmv::cmd {

class ImplRunner {
 public:
  ImplRunner();
  ~ImplRunner();
  ImplRunner(const ImplRunner&) = delete;
  ImplRunner& operator=(const ImplRunner&) = delete;

  std::string apply(const Command& c);

  // The implementation's state in the model's vocabulary (quiescent only).
  model::System observe();
  std::vector<std::string> check_invariants();
  // The same, given observe()'s result with nothing run since.
  std::vector<std::string> check_invariants(const model::System& seen);
  const Holdings& holdings() const { return held_; }
  // Per CPU, the pages its software TLB (impl/tlb.h) holds translations
  // for: what the properties' reach table asks of the impl's state.
  std::vector<std::vector<Addr>> tlb_pages();
  impl::Kernel& kernel() { return *kernel_; }
  impl::Mm& mm() { return *observer_; }
  // A user reference to work with, if the runner holds any.
  impl::MmWithUser* user() { return users_.empty() ? nullptr : users_.back().get(); }

 private:
  std::unique_ptr<impl::Kernel> kernel_;
  impl::ARef<impl::Mm> observer_;
  std::vector<impl::ARef<impl::MmWithUser>> users_;
  std::vector<impl::ARef<impl::Mm>> grabs_;
  std::vector<FileId> files_;
  Holdings held_;
};

}  // namespace mmv::cmd
