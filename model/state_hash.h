// A structural hash of a model state: equal states (System ==) hash equal.
// For the linearizability checker's memo (lincheck/lincheck.h), which used to
// key states by describe()'s text: formatting every fact of every state
// was most of the stress jobs' checking time.
#pragma once

#include <cstddef>

#include "model/system.h"

namespace mmv::model {

// Covers the VMAs, the page table (entries and tables), every folio with its
// page contents, and every file with its backing and page cache; what it
// leaves out (counters that follow from those) only costs collisions, which
// the checker resolves with ==.
std::size_t state_hash(const System& s);

}  // namespace mmv::model
