// RapidCheck generators for the command vocabulary (testing/command.h),
// biased toward the cases where memory-management code breaks: addresses at
// and next to VMA edges and 2 MiB / 1 GiB boundaries, ranges that cross
// page tables, zaps that are partial, exact, over an edge or overflowing,
// sizes 0 and huge, HUGEPAGE areas aligned for THP, MIXEDMAP driver areas.
// Generators look at the model's current state (its VMAs and holdings), so
// most commands aim at something that exists.
#pragma once

#include <rapidcheck.h>

#include "testing/command.h"
#include "testing/model_runner.h"

namespace mmv::props {

// One command for a run whose model is in state `m`.
rc::Gen<cmd::Command> gen_command(const cmd::ModelRunner& m);
// The same, but only commands that change memory (no lifetime commands,
// no failure injection): for properties about the data path.
rc::Gen<cmd::Command> gen_memory_command(const cmd::ModelRunner& m);
// Only the commands that change the VMA tree, mmaps at fixed addresses (and
// often right beside an area): for the linux side (linux/linux_runner.h).
rc::Gen<cmd::Command> gen_vma_command(const cmd::ModelRunner& m);

// Building blocks, exposed for the named invariant properties.
rc::Gen<Addr> gen_address(const cmd::ModelRunner& m);         // may be unaligned
rc::Gen<Addr> gen_page_address(const cmd::ModelRunner& m);    // page-aligned
rc::Gen<std::uint64_t> gen_length();                          // 0, pages, 2 MiB, huge
rc::Gen<MmapRequest> gen_mmap(const cmd::ModelRunner& m);

}  // namespace mmv::props
