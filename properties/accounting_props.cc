// Named accounting invariants, checked on the implementation after every
// command of a random sequence (lifetime commands and allocation-failure
// injection included, so teardown and failed operations are covered).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>

#include "properties/prefix.h"

namespace mmv::props {
namespace {

// Commands per case, each followed by a full observation of the impl
// (which dominates the run time): fewer than the other properties' 40.
constexpr int kCommands = 25;

using cmd::Command;
using model::System;

std::string rss_str(Rss r) { return "anon=" + std::to_string(r.anon) + " file=" + std::to_string(r.file); }

std::string after_what(const Command* c) { return c ? "after " + cmd::to_string(*c) : "at the start"; }

void check_rss(cmd::ImplRunner& impl, const Command* c) {
  const System s = impl.observe();
  Rss want;
  auto count = [&](FolioId id, std::int64_t pages) {
    (s.folios().at(id).kind == FolioKind::kAnon ? want.anon : want.file) += pages;
  };
  for (const auto& [a, pte] : s.page_table().ptes)
    if (!pte.zero_page) count(pte.folio, 1);
  for (const auto& [block, leaf] : s.page_table().pmd_leaves) count(leaf.folio, kPagesPerPmd);
  const Rss got = impl.mm().rss();
  if (got != want) {
    RC_FAIL(after_what(c) + ": rss counters " + rss_str(got) + " but the page table maps " +
            rss_str(want));
  }
}

// Invariant (SPEC.md section 4, "rss counters per mm: FILEPAGES, ANONPAGES
// ... = the present PTEs of each kind, always"; the zero page is not counted
// (section 4, "Faults"); a PMD leaf counts its 512 pages): after every
// command, the mm's MM_ANONPAGES counter equals the present PTEs of
// anonymous folios plus 512 per PMD leaf, and MM_FILEPAGES the present PTEs
// of page-cache and driver folios.
RC_GTEST_PROP(Accounting, RssEqualsPresentPtesOfEachKind, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  check_rss(impl, nullptr);
  PrefixOptions opt;
  opt.lifetime = true;
  opt.max_commands = kCommands;
  opt.on_step = [&](const Command& c, const std::string&) { check_rss(impl, &c); };
  run_prefix(m, impl, opt);
  RC_TAG(impl.mm().rss().anon >= static_cast<std::int64_t>(kPagesPerPmd) ? "THP mapped at the end"
                                                                         : "no THP at the end");
}

void check_refcounts(cmd::ImplRunner& impl, const Command* c) {
  const System s = impl.observe();
  const auto mapped = mapping_counts(s);
  std::map<FolioId, std::uint32_t> cached, pinned;
  for (const auto& [fid, f] : s.files())
    for (const auto& [index, id] : f.page_cache) ++cached[id];
  const cmd::Holdings& h = impl.holdings();
  for (std::size_t i = 0; i < h.pages.size(); ++i) {
    if (!h.pinned[i]) continue;
    ++pinned[h.pages[i]];
    if (!s.folios().contains(h.pages[i]))
      RC_FAIL(after_what(c) + ": driver page " + std::to_string(h.pages[i]) +
              " is freed while the caller still holds its pin");
  }
  auto get = [](const std::map<FolioId, std::uint32_t>& n, FolioId id) {
    auto it = n.find(id);
    return it == n.end() ? 0u : it->second;
  };
  for (const auto& [id, f] : s.folios()) {
    const std::uint32_t maps = get(mapped, id), cache = get(cached, id), pins = get(pinned, id);
    if (cache > 1) RC_FAIL(after_what(c) + ": folio " + std::to_string(id) + " is in the page cache twice");
    if (f.pins != pins) {
      RC_FAIL(after_what(c) + ": folio " + std::to_string(id) + " counts " + std::to_string(f.pins) +
              " pins, the caller holds " + std::to_string(pins));
    }
    if (f.refcount != maps + cache + pins || f.refcount == 0) {
      RC_FAIL(after_what(c) + ": folio " + std::to_string(id) + " has refcount " +
              std::to_string(f.refcount) + " but " + std::to_string(maps) + " mappings + " +
              std::to_string(cache) + " page-cache + " + std::to_string(pins) + " pins");
    }
  }
}

// Invariant (SPEC.md section 4, "Folios carry a refcount (mappings +
// page-cache + caller pins)"; model/folio.h invariants 1 and 2): after every
// command, every folio the impl can reach (mapped, cached, or a live driver
// page) has refcount == present PTEs and PMD leaves mapping it + 1 if a
// file's page cache holds it + the pins the caller holds, and that sum is
// not 0 (a folio with no reference left is freed, not leaked); its own pin
// count equals the caller's; no pinned driver page has been freed.
RC_GTEST_PROP(Accounting, FolioRefcountIsMappingsPlusCachePlusPins, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  check_refcounts(impl, nullptr);
  PrefixOptions opt;
  opt.lifetime = true;
  opt.max_commands = kCommands;
  opt.on_step = [&](const Command& c, const std::string&) { check_refcounts(impl, &c); };
  run_prefix(m, impl, opt);
  RC_TAG(impl.holdings().pages.empty() ? "no driver page" : "driver pages");
}

}  // namespace
}  // namespace mmv::props
