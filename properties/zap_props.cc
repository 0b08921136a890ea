// Named invariants of VmaRef::zap_page_range_single (SPEC.md section 5),
// checked on the implementation's observed state after a random setup
// prefix (properties/prefix.h): VMAs of every kind, THPs, dirty file pages,
// driver pages.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>

#include "model/describe.h"
#include "properties/prefix.h"

namespace mmv::props {
namespace {

using model::System;

constexpr Addr kP = kPageSize;

// Runs a zap on the pair and returns the impl's outcome (zaps always meet
// their precondition).
std::string run_zap(const ZapRange& z, bool under_vma_lock, cmd::ModelRunner& m,
                    cmd::ImplRunner& impl) {
  return *step(zap_command(z, under_vma_lock), m, impl);
}

std::string run_zap(const ZapRange& z, bool under_vma_lock, cmd::ImplRunner& impl) {
  return *step(zap_command(z, under_vma_lock), impl);
}

std::string page_desc(const SeenPage& p) {
  std::string s = p.view.zero_page ? "zero" : "folio " + std::to_string(p.view.folio) + "+" +
                                                  std::to_string(p.view.subpage);
  s += std::string(" ") + (p.view.writable ? "w" : "-") + (p.view.dirty ? "d" : "-") +
       (p.view.young ? "y" : "-") + (p.pmd_mapped ? " pmd" : "");
  return s;
}

// The blocks of `before`'s PMD leaves that the pages [r.lo, r.hi) cut without
// covering them: a zap splits exactly those (SPEC.md section 5).
std::set<Addr> cut_leaves(const System& before, PageRange r) {
  std::set<Addr> out;
  for (const auto& [block, leaf] : before.page_table().pmd_leaves) {
    const bool meets = block < r.hi && r.lo < block + kPmdSize;
    const bool covers = r.lo <= block && block + kPmdSize <= r.hi;
    if (meets && !covers) out.insert(block);
  }
  return out;
}

// Invariant (SPEC.md section 5, "Otherwise clear every leaf mapping in
// [address, address + size)" and "a 2 MiB PMD mapping ... partly inside is
// split into PTEs first and only the covered part is zapped"): a valid zap
// answers "zapped" and leaves no present PTE and no PMD leaf in the
// page-rounded range, while every page outside it is mapped exactly as before
// -- same folio and subpage, same writable/dirty/young bits, same bytes (the
// pages of a THP the range cuts are now PTEs) -- and the VMAs, files, lifetime
// counters, zap counter, bug list and every folio not mapped inside the range
// are unchanged.
RC_GTEST_PROP(ZapInvariants, ClearsTheRangeAndNothingOutsideIt, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  run_prefix(m, impl);
  const System before = impl.observe();
  RC_PRE(!before.vmas().empty());
  const ZapRange z = *gen_valid_zap(before);
  const bool vma_lock = *rc::gen::arbitrary<bool>();
  const std::string out = run_zap(z, vma_lock, m, impl);
  if (out != "zapped") RC_FAIL("valid zap answered " + out);
  const System after = impl.observe();
  const PageRange r = zap_pages(z);
  RC_TAG(r.lo == r.hi ? "empty" : !cut_leaves(before, r).empty() ? "cuts a THP" : "plain");

  const auto& apt = after.page_table();
  for (auto it = apt.ptes.lower_bound(r.lo); it != apt.ptes.end() && it->first < r.hi; ++it)
    RC_FAIL("PTE left at " + hex(it->first) + " inside the zapped pages [" + hex(r.lo) + "," +
            hex(r.hi) + ")");
  for (const auto& [block, leaf] : apt.pmd_leaves)
    if (block < r.hi && r.lo < block + kPmdSize)
      RC_FAIL("PMD leaf left at " + hex(block) + " meeting the zapped pages [" + hex(r.lo) + "," +
              hex(r.hi) + ")");

  // Outside the range: the same page everywhere.
  auto pb = seen_pages(before), pa = seen_pages(after);
  std::erase_if(pb, [&](const auto& kv) { return r.contains(kv.first); });
  std::erase_if(pa, [&](const auto& kv) { return r.contains(kv.first); });
  for (const auto& [a, p] : pb) {
    auto it = pa.find(a);
    if (it == pa.end()) RC_FAIL("page " + hex(a) + " outside the range was unmapped (" + page_desc(p) + ")");
    if (!(it->second.view == p.view)) {
      RC_FAIL("page " + hex(a) + " outside the range changed: " + page_desc(p) + " -> " +
              page_desc(it->second));
    }
    if (!(it->second.bytes == p.bytes)) RC_FAIL("contents of page " + hex(a) + " outside the range changed");
  }
  for (const auto& [a, p] : pa)
    if (!pb.contains(a)) RC_FAIL("page " + hex(a) + " outside the range appeared: " + page_desc(p));

  // The rest of the state: what zap must not touch at all.
  const std::string rest = diff_except(before, after, {"rss", "tables"}, {"page ", "pmd ", "folio "});
  if (!rest.empty()) RC_FAIL("zap changed more than mappings and folios:\n" + rest);

  // Folios the range did not map are untouched; no folio is created.
  std::set<FolioId> touched;
  for (const auto& [a, p] : seen_pages(before))
    if (r.contains(a) && !p.view.zero_page) touched.insert(p.view.folio);
  for (const auto& [id, f] : after.folios())
    if (!before.folios().contains(id)) RC_FAIL("zap created folio " + std::to_string(id));
  for (const auto& [id, f] : before.folios()) {
    if (touched.contains(id)) continue;
    auto it = after.folios().find(id);
    if (it == after.folios().end()) RC_FAIL("folio " + std::to_string(id) + " not mapped in the range was freed");
    if (!(it->second == f)) RC_FAIL("folio " + std::to_string(id) + " not mapped in the range changed:\n" +
                                    model::diff(before, after));
  }
}

// Invariant (SPEC.md section 5, "page tables stay: no PTE/PMD table is
// freed, upper levels are untouched"; model/system.h: the PTE table a THP
// split needs was reserved with the THP): after any zap, valid or not, the
// PMD and PUD tables are exactly those before, the PTE tables are those
// before plus one for each PMD leaf the range cut without covering it, and
// the mm's table counters equal the tables linked in the tree.
RC_GTEST_PROP(ZapInvariants, FreesNoPageTable, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  run_prefix(m, impl);
  const System before = impl.observe();
  RC_PRE(!before.vmas().empty());
  const bool valid = *rc::gen::weightedElement<bool>({{4, true}, {1, false}});
  const ZapRange z = valid ? *gen_valid_zap(before) : *gen_bad_zap(before);
  const TableCounts counted_before = impl.mm().table_counts();
  const std::string out = run_zap(z, *rc::gen::arbitrary<bool>(), m, impl);
  const System after = impl.observe();

  const auto& bpt = before.page_table();
  const auto& apt = after.page_table();
  std::set<Addr> expect_pte = bpt.pte_tables;
  std::set<Addr> splits;
  if (out == "zapped") splits = cut_leaves(before, zap_pages(z));
  expect_pte.insert(splits.begin(), splits.end());
  RC_TAG(splits.empty() ? "no split" : "split");

  if (counted_before != TableCounts{bpt.pte_tables.size(), bpt.pmd_tables.size(), bpt.pud_tables.size()})
    RC_FAIL("table counters differ from the linked tables before the zap");
  for (Addr b : bpt.pte_tables)
    if (!apt.pte_tables.contains(b)) RC_FAIL("zap (" + out + ") freed the PTE table at " + hex(b));
  for (Addr b : bpt.pmd_tables)
    if (!apt.pmd_tables.contains(b)) RC_FAIL("zap (" + out + ") freed the PMD table at " + hex(b));
  for (Addr b : bpt.pud_tables)
    if (!apt.pud_tables.contains(b)) RC_FAIL("zap (" + out + ") freed the PUD table at " + hex(b));
  for (Addr b : apt.pte_tables)
    if (!expect_pte.contains(b)) RC_FAIL("zap (" + out + ") added a PTE table at " + hex(b));
  for (Addr b : splits)
    if (!apt.pte_tables.contains(b)) RC_FAIL("the split THP at " + hex(b) + " has no PTE table");
  RC_ASSERT(apt.pmd_tables == bpt.pmd_tables);
  RC_ASSERT(apt.pud_tables == bpt.pud_tables);
  const TableCounts counted = impl.mm().table_counts();
  const TableCounts linked{apt.pte_tables.size(), apt.pmd_tables.size(), apt.pud_tables.size()};
  if (counted != linked) {
    RC_FAIL("table counters pte/pmd/pud " + std::to_string(counted.pte) + "/" +
            std::to_string(counted.pmd) + "/" + std::to_string(counted.pud) + " but " +
            std::to_string(linked.pte) + "/" + std::to_string(linked.pmd) + "/" +
            std::to_string(linked.pud) + " linked");
  }
  RC_ASSERT(after.table_counts() == TableCounts(linked));
}

// Invariant (SPEC.md section 5, "zap of an already-empty range is a
// no-op"): zapping the same range twice leaves the state the first zap left
// (all of it, folio ids and anon_vma ids included); a rejected zap is
// rejected again, changing only the zap counter, by one.
RC_GTEST_PROP(ZapInvariants, ZapTwiceEqualsZapOnce, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  run_prefix(m, impl);
  const System before = impl.observe();
  RC_PRE(!before.vmas().empty());
  const bool valid = *rc::gen::weightedElement<bool>({{5, true}, {1, false}});
  const ZapRange z = valid ? *gen_valid_zap(before) : *gen_bad_zap(before);
  const std::string out1 = run_zap(z, *rc::gen::arbitrary<bool>(), m, impl);
  const System once = impl.observe();
  const std::string out2 = run_zap(z, *rc::gen::arbitrary<bool>(), m, impl);
  const System twice = impl.observe();
  RC_TAG(out1);
  if (out1 != out2) RC_FAIL("first zap " + out1 + ", second " + out2);
  if (out1 == "zapped") {
    if (!(once == twice)) RC_FAIL("the second zap changed the state (once | twice):\n" + model::diff(once, twice));
  } else {
    const std::string d = diff_except(once, twice, {"zap_rejections"});
    if (!d.empty()) RC_FAIL("a rejected zap changed the state:\n" + d);
    RC_ASSERT(twice.zap_rejections() == once.zap_rejections() + 1);
  }
}

// Invariant (SPEC.md section 5: a zap clears exactly the leaf mappings of
// the pages meeting its range): zapping [a, b) and then [b, c) of one VMA
// leaves the same state as zapping [a, c) at once, built from the same
// prefix on fresh runners. The one allowed difference is a page table: a THP
// that [a, c) covers whole is removed with its PMD entry, while the two
// halves split it first, keeping the PTE table reserved with it.
RC_GTEST_PROP(ZapInvariants, SplitRangeEqualsWholeRange, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner halves;
  const std::vector<cmd::Command> prefix = run_prefix(m, halves);
  const System before = halves.observe();
  RC_PRE(!before.vmas().empty());
  const ZapRange whole = *gen_valid_zap(before);
  // The split point: anywhere in [a, c], often on a page or 2 MiB boundary.
  const Addr a = whole.address, c = whole.address + whole.size;
  std::vector<Addr> boundaries = {a, c};
  for (Addr x = pmd_down(a) + kPmdSize; x < c; x += kPmdSize) boundaries.push_back(x);
  const Addr b = *rc::gen::weightedOneOf<Addr>({
      {2, rc::gen::inRange<Addr>(a, c + 1)},
      {2, rc::gen::map(rc::gen::inRange<Addr>(0, whole.size / kP + 1),
                       [a, c](Addr i) { return std::clamp(page_down(a) + i * kP, a, c); })},
      {1, rc::gen::map(rc::gen::elementOf(boundaries), [a, c](Addr x) { return std::clamp(x, a, c); })},
  });
  const ZapRange first{whole.vma_addr, a, b - a};
  const ZapRange second{whole.vma_addr, b, c - b};
  const bool lock1 = *rc::gen::arbitrary<bool>(), lock2 = *rc::gen::arbitrary<bool>(),
             lock3 = *rc::gen::arbitrary<bool>();
  RC_ASSERT(run_zap(first, lock1, m, halves) == "zapped");
  RC_ASSERT(run_zap(second, lock2, m, halves) == "zapped");
  const System split = halves.observe();

  cmd::ImplRunner once;
  replay(prefix, once);
  {
    const System replayed = once.observe();
    if (!(replayed == before))
      RC_FAIL("replaying the prefix gave another state:\n" + model::diff(before, replayed));
  }
  RC_ASSERT(run_zap(whole, lock3, once) == "zapped");
  const System joined = once.observe();
  RC_TAG(split.page_table().pte_tables == joined.page_table().pte_tables ? "same tables" : "split kept a table");

  const std::string d = diff_except(split, joined, {"tables"});
  if (!d.empty()) RC_FAIL("[a,b) then [b,c) differs from [a,c) (halves | whole):\n" + d);
  const auto& spt = split.page_table();
  const auto& jpt = joined.page_table();
  RC_ASSERT(spt.pmd_tables == jpt.pmd_tables);
  RC_ASSERT(spt.pud_tables == jpt.pud_tables);
  for (Addr t : jpt.pte_tables)
    if (!spt.pte_tables.contains(t)) RC_FAIL("only the whole-range zap has a PTE table at " + hex(t));
  for (Addr t : spt.pte_tables) {
    if (jpt.pte_tables.contains(t)) continue;
    if (!before.page_table().pmd_leaves.contains(t))
      RC_FAIL("the two halves left a PTE table at " + hex(t) + " where no THP was");
  }
}

// Invariant (SPEC.md section 5, "Bad input is a silent no-op ... count it in
// a warning counter: address + size overflows, address < start(), or
// address + size > end()"): such a zap answers "rejected", bumps
// zap_rejections by one and changes nothing else.
RC_GTEST_PROP(ZapInvariants, BadInputIsRejectedAndChangesNothing, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  run_prefix(m, impl);
  const System before = impl.observe();
  RC_PRE(!before.vmas().empty());
  const ZapRange z = *gen_bad_zap(before);
  const std::string out = run_zap(z, *rc::gen::arbitrary<bool>(), m, impl);
  if (out != "rejected") RC_FAIL("bad-input zap answered " + out);
  const System after = impl.observe();
  const std::string d = diff_except(before, after, {"zap_rejections"});
  if (!d.empty()) RC_FAIL("a rejected zap changed the state:\n" + d);
  RC_ASSERT(after.zap_rejections() == before.zap_rejections() + 1);
}

}  // namespace
}  // namespace mmv::props
