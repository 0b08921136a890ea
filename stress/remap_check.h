// Checking a recorded history of remap_commands (stress/zap_workload.h) on
// one of kRemapVmas: the impl's remap stress workload (run_remap,
// stress/workload.h) and the concurrent kernel oracle (model/oracle/
// concurrent_oracle.h) record the same commands, one on the impl, the other
// on the host kernel, and are judged here alike.
//
// A history is recorded as whole commands, each with its call and return
// times and outcome. It is checked as:
//  1. pieces: one command per page (page_pieces; a failed command, which
//     changed nothing, reduced to its first page, which decides it on a VMA
//     that is mapped or unmapped whole, as these always are; a command of
//     unknown outcome split as if it had done all its work, each piece of
//     unknown outcome);
//  2. without what an munmap's window explains (in_munmap_window): it
//     changed nothing and no specification here can say when it happens;
//  3. page by page: every piece works on one page and ZapSpec's pages are
//     independent, so each page's part is linearizable on its own or the
//     history is not (P-compositionality), and the pieces of one command do
//     not multiply the orders the search tries.
// Each page's part is searched with ZapSpec; its witness order must replay
// on the reference model, and a part ZapSpec rejects is checked again with
// the reference model, which has the last word.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "stress/linearizability.h"

namespace mmv::stress {

struct RemapVerdict {
  Verdict verdict = Verdict::kLinearizable;
  std::string failure;              // empty when linearizable: what failed, with the window of operations
  CheckResult result;               // the check whose verdict failure shows (for a timeline of `part`)
  std::vector<Operation> pieces;    // the history in page pieces (step 1)
  std::vector<Operation> part;      // not linearizable: the part of the page that is not
  std::uint64_t page = 0;           // and that page, in its VMA
  std::uint64_t states = 0;         // search states, all parts
};

struct RemapCheck {
  // Applied to every piece that is checked (after step 2): a deliberately
  // wrong specification's effect times, say. Null: none.
  std::function<void(Operation&)> adjust;
  // Whether the reference model re-checks a part ZapSpec rejects (only
  // meaningful when adjust is null).
  bool model_has_last_word = true;
  std::chrono::milliseconds budget{5000};  // per check
};

// The history of kRemapVmas[vma], as recorded: whole commands.
RemapVerdict check_remap(int vma, const std::vector<Operation>& recorded, const RemapCheck& how = {});

// Step 1 alone.
std::vector<Operation> remap_pieces(const std::vector<Operation>& recorded);
// The page (in its VMA of kRemapVmas) a piece works on.
std::uint64_t remap_page(const cmd::Command& piece);

}  // namespace mmv::stress
