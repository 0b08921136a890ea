// Shared pieces of the named invariant properties (zap_props.cc,
// data_props.cc, accounting_props.cc, failure_props.cc, lifetime_props.cc):
// a random setup prefix run on a ModelRunner/ImplRunner pair (the model only
// steers the generators; the invariants are checked on the impl's observed
// state), replay of a recorded prefix on fresh runners, targeted zap ranges,
// and comparisons of observed states that can leave chosen parts out.
//
// Everything that draws values (run_prefix, the generators) must run inside
// a RapidCheck property. Commands are applied only when
// cmd::precondition() holds, so a shrunk case stays runnable.
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <ostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/system.h"
#include "testing/command.h"
#include "testing/impl_runner.h"
#include "testing/model_runner.h"

namespace mmv::props {

// Runs `c` on both runners if its precondition holds (judged on the impl's
// holdings, which the model's mirror); returns the impl's outcome, or
// nothing if `c` was skipped.
std::optional<std::string> step(const cmd::Command& c, cmd::ModelRunner& m, cmd::ImplRunner& impl);
// The same on the impl alone (replays).
std::optional<std::string> step(const cmd::Command& c, cmd::ImplRunner& impl);

// An mmap that nearly always succeeds (first fit, no MAP_FIXED) of a kind that
// makes the state rich: private anonymous, THP-eligible anonymous (2 MiB
// aligned hint, HUGEPAGE), shared or private file inside the file (sometimes
// one page past its end), or a MIXEDMAP driver area.
rc::Gen<cmd::Command> gen_seed_mmap();

// A store or load in one of the model's VMAs (any page of it), or for a
// MIXEDMAP area a driver page allocated or inserted: the commands that fill
// the seeded VMAs with anonymous pages, THPs, dirty file pages and driver
// pages.
rc::Gen<cmd::Command> gen_touch(const cmd::ModelRunner& m);

struct PrefixOptions {
  int max_commands = 40;   // seeds included
  bool lifetime = false;   // also draw lifetime commands and failure injection
  // Called after every command that ran, with the impl's outcome.
  std::function<void(const cmd::Command&, const std::string&)> on_step;
  // Replaces the generator of the random commands (gen_command or
  // gen_memory_command of properties/gen.h).
  std::function<rc::Gen<cmd::Command>(const cmd::ModelRunner&)> gen;
};
// Inside a property: draws a setup prefix -- one to four seed mmaps, then
// random commands of properties/gen.h (a quarter of them gen_touch unless
// opt.gen is given), then, should no VMA be left while
// the mm is live, up to three more seeds -- and runs it on the pair. Returns the
// commands that ran, in order, so that replay() can rebuild the same state.
std::vector<cmd::Command> run_prefix(cmd::ModelRunner& m, cmd::ImplRunner& impl,
                                     const PrefixOptions& opt = {});
// Replays a prefix recorded by run_prefix on a fresh impl runner.
void replay(const std::vector<cmd::Command>& prefix, cmd::ImplRunner& impl);

// A zap request on the VMA containing vma_addr.
struct ZapRange {
  Addr vma_addr = 0;
  Addr address = 0;
  std::uint64_t size = 0;
};
std::ostream& operator<<(std::ostream& os, const ZapRange& z);
// A valid range (start <= address, address + size <= end, maybe unaligned,
// maybe empty) in one of `s`'s VMAs, biased toward whole VMAs, VMA edges,
// 2 MiB boundaries and ranges that cut a THP. REQUIRES: s has a VMA.
rc::Gen<ZapRange> gen_valid_zap(const model::System& s);
// Bad input relative to one of `s`'s VMAs: address + size overflows,
// address < start, or address + size > end. REQUIRES: s has a VMA.
rc::Gen<ZapRange> gen_bad_zap(const model::System& s);
// A kZap (mmap read lock) or kZapUnderVmaLock command for `z`.
cmd::Command zap_command(const ZapRange& z, bool under_vma_lock);
// The pages a valid zap of `z` clears: [lo, hi), empty when size == 0.
struct PageRange {
  Addr lo = 0;
  Addr hi = 0;
  bool contains(Addr a) const { return lo <= a && a < hi; }
};
PageRange zap_pages(const ZapRange& z);

// What user space and a page walker see at one page, PMD-ness left out (a
// split THP keeps its pages, flags and contents), with its bytes.
struct SeenPage {
  PageView view;  // view.pmd_mapped is always false here
  bool pmd_mapped = false;
  PageBytes bytes;
};
// Every page with a present PTE or under a PMD leaf.
std::map<Addr, SeenPage> seen_pages(const model::System& s);

// model::diff(a, b) limited to the facts (model/describe.h) whose key is not
// one of `ignored` and does not start with one of `ignored_prefixes`; "" when
// the rest agrees.
std::string diff_except(const model::System& a, const model::System& b,
                        std::initializer_list<std::string_view> ignored,
                        std::initializer_list<std::string_view> ignored_prefixes = {});

// Count of present mappings of each folio: one per PTE, one per PMD leaf.
std::map<FolioId, std::uint32_t> mapping_counts(const model::System& s);

std::string hex(std::uint64_t v);

}  // namespace mmv::props
