// Observation: an impl address space, read out in the model's vocabulary
// (like /proc/pid/smaps + pagemap + kpagecount), as a model::System. A
// property can then compare the two implementations with == and print
// model::diff() when they disagree (SPEC.md section 6).
//
// Folio ids, anon_vma ids and file ids are comparable with the model's
// when the same operations ran in the same order (impl/kernel.h).
#pragma once

#include "impl/kernel.h"
#include "impl/mm.h"
#include "model/system.h"

namespace mmv::impl {

// REQUIRES: no operation on `mm` or on `kernel`'s files runs concurrently
// (the result would be a mix of before and after). Includes every folio
// reachable from mm's page table, from any file's page cache, and every
// live driver page; all files; the kernel's bugs.
model::System observe(Kernel& kernel, Mm& mm);

// Mm::check_invariants() on an observation already made: `seen` must be
// observe(kernel, mm) with nothing run since (it saves a second walk).
std::vector<std::string> check_invariants(Mm& mm, const model::System& seen);

}  // namespace mmv::impl
