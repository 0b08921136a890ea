// ModelRunner: applies commands (testing/command.h) to a model::System.
// A plain value (copyable, comparable), as RapidCheck's stateful testing
// needs of its model.
//
// The runner holds one mm_count reference of its own for the whole run (the
// "observer" reference that lets ImplRunner inspect a torn-down mm), so both
// sides start at mm_users = 1, mm_count = 2.
#pragma once

#include <string>
#include <vector>

#include "model/state_hash.h"
#include "model/system.h"
#include "testing/command.h"

namespace mmv::cmd {

class ModelRunner {
 public:
  // `rules`: the kernel version's rules the model follows (model::KernelRules;
  // the default is the host kernel's).
  explicit ModelRunner(model::KernelRules rules = {});

  // Runs `c` (the caller has checked precondition(c, holdings())) and
  // returns its outcome.
  std::string apply(const Command& c);

  const model::System& system() const { return sys_; }
  const Holdings& holdings() const { return held_; }
  FileId file_id(std::uint32_t slot) const { return files_.at(slot); }

  friend bool operator==(const ModelRunner&, const ModelRunner&) = default;

 private:
  model::System sys_;
  Holdings held_;
  std::vector<FileId> files_;
};

// The runner's state hash for the linearizability checkers
// (stress/linearizability.h): the system's, which equal runners share.
inline std::size_t state_hash(const ModelRunner& m) { return model::state_hash(m.system()); }

}  // namespace mmv::cmd
