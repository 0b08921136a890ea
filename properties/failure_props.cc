// Named invariant: a failed operation changes nothing, apart from the
// exceptions model/system.h documents (mprotect's partial application, the
// pages a failed file read fault's fault-around mapped, the anon_vma of a
// store past the end of a private file, the pages a failed populate faulted
// in before the page that failed), checked on the implementation after
// every command of a random sequence.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "properties/gen.h"
#include "properties/prefix.h"

namespace mmv::props {
namespace {

// Commands per case, each followed by a full observation of the impl
// (which dominates the run time): fewer than the other properties' 40.
constexpr int kCommands = 30;

using cmd::Command;
using cmd::Op;
using model::System;

constexpr Addr kP = kPageSize;

std::string show(const Command& c, const std::string& out) { return cmd::to_string(c) + " (" + out + ")"; }

// Folio refcounts may move by exactly the change in their mappings; nothing
// else about any folio may change, and no folio may come or go.
void check_folios_only_remapped(const Command& c, const std::string& out, const System& before,
                                const System& after) {
  const auto mb = mapping_counts(before), ma = mapping_counts(after);
  auto get = [](const auto& n, FolioId id) -> std::int64_t {
    auto it = n.find(id);
    return it == n.end() ? 0 : it->second;
  };
  if (before.folios().size() != after.folios().size())
    RC_FAIL(show(c, out) + " created or freed a folio");
  for (const auto& [id, f] : before.folios()) {
    auto it = after.folios().find(id);
    if (it == after.folios().end()) RC_FAIL(show(c, out) + " freed folio " + std::to_string(id));
    model::Folio g = it->second;
    const std::int64_t delta = get(ma, id) - get(mb, id);
    if (static_cast<std::int64_t>(g.refcount) != static_cast<std::int64_t>(f.refcount) + delta) {
      RC_FAIL(show(c, out) + ": folio " + std::to_string(id) + " refcount " + std::to_string(f.refcount) +
              " -> " + std::to_string(g.refcount) + " while its mappings changed by " + std::to_string(delta));
    }
    g.refcount = f.refcount;
    if (!(g == f)) RC_FAIL(show(c, out) + " changed folio " + std::to_string(id));
  }
}

// The segments on which `s`'s VMA set is uniform, cut at every boundary of
// either state and at lo, hi.
std::vector<Addr> breakpoints(const System& a, const System& b, Addr lo, Addr hi) {
  std::set<Addr> at = {lo, hi};
  for (const System* s : {&a, &b})
    for (const auto& [start, v] : s->vmas()) {
      at.insert(v.start);
      at.insert(v.end);
    }
  return {at.begin(), at.end()};
}

// mprotect stopped with ENOMEM/EACCES after changing the VMAs before the
// failure point (model/system.h, do_mprotect_pkey): the same pages are mapped
// by VMAs of the same backing at the same file offsets; only flags inside
// [lo, hi) may differ, and only in the protection bits and VM_ACCOUNT; PTEs
// are those before, mapping the same pages, except that ones inside [lo, hi)
// may have lost write permission and a THP the VMA split cut may now be
// mapped by PTEs (one more PTE table, its folio's refcount following).
bool check_partial_mprotect(const Command& c, const std::string& out, const System& before,
                            const System& after) {
  const Addr lo = c.addr;
  std::uint64_t len = 0;
  const Addr hi = page_round_up(c.len, &len) && lo + len >= lo ? lo + len : ~Addr{0};
  const std::string d =
      diff_except(before, after, {"fail_next_alloc", "tables"}, {"vma ", "page ", "pmd ", "folio "});
  if (!d.empty()) RC_FAIL(show(c, out) + " changed more than VMAs and PTE permissions:\n" + d);

  const auto cuts = breakpoints(before, after, lo, hi);
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const Addr x = cuts[i];
    const auto vb = before.vma_lookup(x), va = after.vma_lookup(x);
    if (vb.has_value() != va.has_value()) RC_FAIL(show(c, out) + " mapped or unmapped " + hex(x));
    if (!vb) continue;
    if (vb->backing.kind != va->backing.kind ||
        (vb->backing.kind == BackingKind::kFile &&
         (vb->backing.file != va->backing.file || vb->file_index(x) != va->file_index(x))))
      RC_FAIL(show(c, out) + " changed what is mapped at " + hex(x));
    const bool inside = lo <= x && x < hi;
    const VmFlags may = inside ? flags::kProtMask | flags::kAccount : 0;
    if ((vb->flags & ~may) != (va->flags & ~may))
      RC_FAIL(show(c, out) + " changed the flags at " + hex(x) + ": " + flags_to_string(vb->flags) +
              " -> " + flags_to_string(va->flags));
    if (va->anon_vma != vb->anon_vma && vb->anon_vma != 0)
      RC_FAIL(show(c, out) + " changed the anon_vma at " + hex(x));
  }

  const auto pb = seen_pages(before), pa = seen_pages(after);
  if (pb.size() != pa.size()) RC_FAIL(show(c, out) + " mapped or unmapped pages");
  for (const auto& [a, p] : pb) {
    auto it = pa.find(a);
    if (it == pa.end()) RC_FAIL(show(c, out) + " unmapped " + hex(a));
    PageView v = it->second.view;
    if (lo <= a && a < hi && p.view.writable && !v.writable) v.writable = true;
    if (!(v == p.view) || !(it->second.bytes == p.bytes))
      RC_FAIL(show(c, out) + " changed the page at " + hex(a) + " beyond write-protecting it");
  }
  check_folios_only_remapped(c, out, before, after);

  const auto& bt = before.page_table();
  const auto& at = after.page_table();
  if (bt.pmd_tables != at.pmd_tables || bt.pud_tables != at.pud_tables)
    RC_FAIL(show(c, out) + " changed the upper page tables");
  for (Addr t : bt.pte_tables)
    if (!at.pte_tables.contains(t)) RC_FAIL(show(c, out) + " freed the PTE table at " + hex(t));
  for (Addr t : at.pte_tables)
    if (!bt.pte_tables.contains(t) && !bt.pmd_leaves.contains(t))
      RC_FAIL(show(c, out) + " added a PTE table at " + hex(t) + " where no THP was split");
  return !(before == after);
}

// A read fault on a file VMA that failed (SIGBUS past end of file, ENOMEM
// for the page-cache folio) after fault-around (model/system.h): the only
// change is new read-only, clean, not-young PTEs, in the faulting address's
// 16-page window, of page-cache folios of that file at the right index (not
// the faulting page itself, else the read would have succeeded), with their
// folios' refcounts and the tables they need.
bool check_fault_around_kept(const Command& c, const std::string& out, const Vma& v,
                             const System& before, const System& after) {
  const std::string d = diff_except(before, after, {"fail_next_alloc", "rss", "tables"}, {"page ", "folio "});
  if (!d.empty()) RC_FAIL(show(c, out) + " changed more than fault-around may:\n" + d);
  const auto& bt = before.page_table();
  const auto& at = after.page_table();
  int added = 0;
  for (const auto& [a, pte] : bt.ptes) {
    auto it = at.ptes.find(a);
    if (it == at.ptes.end() || !(it->second == pte)) RC_FAIL(show(c, out) + " changed the PTE at " + hex(a));
  }
  // do_fault_around's window: 16 pages from the 16-aligned page at or below
  // the address, but not before the VMA's start (then it runs 16 pages from
  // there, across the aligned boundary), and never past the VMA's end or the
  // PTE table's.
  const Addr from = std::max({c.addr / (16 * kP) * (16 * kP), v.start, pmd_down(c.addr)});
  const Addr to = std::min({from + 16 * kP, v.end, pmd_down(c.addr) + kPmdSize});
  const model::File& file = before.files().at(v.backing.file);
  for (const auto& [a, pte] : at.ptes) {
    if (bt.ptes.contains(a)) continue;
    ++added;
    const std::string what = show(c, out) + " left a PTE at " + hex(a);
    if (a == page_down(c.addr)) RC_FAIL(what + ", the page that failed");
    if (a < from || a >= to) RC_FAIL(what + " outside the fault-around window");
    auto cached = file.page_cache.find(v.file_index(a));
    if (cached == file.page_cache.end() || pte.zero_page || pte.folio != cached->second || pte.subpage != 0)
      RC_FAIL(what + " that does not map the cached page of its file offset");
    if (pte.writable || pte.dirty || pte.young) RC_FAIL(what + " that is writable, dirty or young");
  }
  check_folios_only_remapped(c, out, before, after);
  auto only_new = [&](const std::set<Addr>& b, const std::set<Addr>& a, Addr allowed, const char* level) {
    for (Addr t : b)
      if (!a.contains(t)) RC_FAIL(show(c, out) + " freed a " + level + " table at " + hex(t));
    for (Addr t : a)
      if (!b.contains(t) && (t != allowed || added == 0))
        RC_FAIL(show(c, out) + " added a " + level + " table at " + hex(t));
  };
  only_new(bt.pte_tables, at.pte_tables, pmd_down(c.addr), "PTE");
  only_new(bt.pmd_tables, at.pmd_tables, pud_down(c.addr), "PMD");
  only_new(bt.pud_tables, at.pud_tables, pgd_down(c.addr), "PUD");
  return added > 0;
}

// Commands that tend to fail in the interesting ways: a read fault past the
// end of a file (SIGBUS after fault-around) or of a page not yet cached (ENOMEM
// when a failure is armed); an mprotect from inside one VMA to past the next
// (ENOMEM at a hole or EACCES after changing the first VMAs); a file mapping
// that runs past the end of its file; a driver area without MAYWRITE, which
// mprotect cannot make writable (EACCES).
rc::Gen<Command> gen_error_prone(const cmd::ModelRunner& m) {
  std::vector<Vma> vmas, files;
  std::vector<std::uint64_t> sizes;
  for (const auto& [start, v] : m.system().vmas()) {
    vmas.push_back(v);
    if (v.backing.kind == BackingKind::kFile) {
      files.push_back(v);
      sizes.push_back(m.system().files().at(v.backing.file).size_pages);
    }
  }
  return rc::gen::resize(rc::kNominalSize, rc::gen::exec([vmas, files, sizes] {
    Command c;
    int what = *rc::gen::inRange(0, 4);
    if (what == 0 && files.empty()) what = 1;
    if (what == 1 && vmas.empty()) what = 2;
    switch (what) {
      case 0: {
        const std::size_t i = *rc::gen::inRange<std::size_t>(0, files.size());
        const Vma& v = files[i];
        std::uint64_t first = 0;  // the first page past the end of file, if any
        while (first < v.pages() && v.file_index(v.start + first * kP) < sizes[i]) ++first;
        c.op = Op::kRead;
        c.addr = first < v.pages() && *rc::gen::inRange(0, 3) != 0
                     ? v.start + *rc::gen::inRange<std::uint64_t>(first, v.pages()) * kP
                     : v.start + *rc::gen::inRange<std::uint64_t>(0, v.pages()) * kP;
        break;
      }
      case 1: {
        const std::size_t i = *rc::gen::inRange<std::size_t>(0, vmas.size());
        const std::size_t j = *rc::gen::inRange<std::size_t>(i, std::min(vmas.size(), i + 3));
        c.op = Op::kMprotect;
        c.addr = vmas[i].start + *rc::gen::inRange<std::uint64_t>(0, vmas[i].pages()) * kP;
        c.len = vmas[j].end - c.addr + *rc::gen::element<std::uint64_t>(0, 0, kP, kPmdSize);
        c.prot = *rc::gen::element<VmFlags>(flags::kRead | flags::kWrite, flags::kRead,
                                            flags::kRead | flags::kExec, flags::kWrite);
        break;
      }
      case 2: {  // a file mapping that runs past the end of its file
        const auto slot = *rc::gen::inRange<std::uint32_t>(0, std::size(cmd::kFiles));
        const std::uint64_t size = cmd::kFiles[slot].pages;
        c.op = Op::kMmap;
        c.mmap.backing.kind = BackingKind::kFile;
        c.mmap.backing.file = slot;
        c.mmap.backing.pgoff = *rc::gen::inRange<std::uint64_t>(size > 16 ? size - 16 : 0, size);
        c.mmap.length = (size - c.mmap.backing.pgoff + *rc::gen::inRange<std::uint64_t>(1, 5)) * kP;
        c.mmap.shared = *rc::gen::arbitrary<bool>();
        break;
      }
      default:
        c.op = Op::kMmap;
        c.mmap.prot = flags::kRead;
        c.mmap.shared = true;
        c.mmap.backing.kind = BackingKind::kDriver;
        c.mmap.setup = {VmaNewOp::kSetMixedMap, VmaNewOp::kTryClearMayWrite};
        c.mmap.length = *rc::gen::inRange<std::uint64_t>(1, 5) * kP;
        break;
    }
    return c;
  }));
}

// A store beyond the end of a private file mapping (SIGBUS): do_cow_fault
// prepares the area's anon_vma before it looks at the file, so the area may
// keep a new anon_vma, and nothing else may change (model/system.h). False
// when the anon_vma did not change (the general check applies).
bool check_cow_anon_vma_kept(const Command& c, const std::string& out, const Vma& v, const System& before,
                             const System& after) {
  const auto now = after.vma_lookup(c.addr);
  if (!now || now->anon_vma == v.anon_vma) return false;
  Vma expected = v;
  expected.anon_vma = now->anon_vma;
  if (v.anon_vma != 0 || !(*now == expected))
    RC_FAIL(show(c, out) + " changed its VMA beyond giving it an anon_vma");
  auto vmas = before.vmas();
  vmas.at(v.start).anon_vma = now->anon_vma;
  if (vmas != after.vmas()) RC_FAIL(show(c, out) + " changed another VMA");
  const std::string d = diff_except(before, after, {"fail_next_alloc"}, {"vma "});
  if (!d.empty()) RC_FAIL(show(c, out) + " changed more than its VMA's anon_vma:\n" + d);
  return true;
}

// populate (MADV_POPULATE_WRITE) failed at page f after it faulted in
// [lo, f) (model/system.h): the state is `before` populated on [lo, f),
// where f is the first page of the range the failed one left without a
// writable entry; the only other change allowed is the anon_vma the fault
// at f may have prepared (a store past the end of a private file). The
// prefix is populated by the model, whose rule the ModelVsImpl property
// holds the impl to; what this checks is that a failure changed nothing
// else. False when the failure changed nothing.
bool check_partial_populate(const Command& c, const std::string& out, const System& before,
                            const System& after) {
  std::uint64_t len = 0;
  if (!page_aligned(c.addr) || !page_round_up(c.len, &len) || c.addr + len < c.addr) return false;
  Addr f = c.addr;
  for (; f < c.addr + len; f += kP) {
    const auto p = after.page(f);
    if (!p || !p->writable) break;
  }
  System expected = before;
  if (!expected.populate(c.addr, f - c.addr).ok())
    RC_FAIL(show(c, out) + ": populating the pages before " + hex(f) + " fails on its own");
  const auto vb = expected.vma_lookup(f), va = after.vma_lookup(f);
  const bool prepared = vb && va && vb->anon_vma == 0 && va->anon_vma != 0;
  const std::string d = prepared ? diff_except(expected, after, {"fail_next_alloc"}, {"vma "})
                                 : diff_except(expected, after, {"fail_next_alloc"});
  if (!d.empty()) RC_FAIL(show(c, out) + " changed more than populating the pages before " + hex(f) + ":\n" + d);
  if (prepared) {
    Vma want = *vb;
    want.anon_vma = va->anon_vma;
    auto vmas = expected.vmas();
    vmas.at(want.start) = want;
    if (vmas != after.vmas()) RC_FAIL(show(c, out) + " changed a VMA beyond the anon_vma of the failing page's");
  }
  return !(before == after);
}

struct Seen {
  int errors = 0;
  int injected = 0;
  int partial_mprotect = 0;
  int fault_around_kept = 0;
  int cow_anon_vma_kept = 0;
  int partial_populate = 0;
};

void check_failed(const Command& c, const std::string& out, const System& before, const System& after,
                  Seen& seen) {
  ++seen.errors;
  // fail_next_allocation (model/system.h): one-shot, consumed only by the
  // allocation it fails, which makes the operation fail with ENOMEM.
  if (after.allocation_failure_armed() && !before.allocation_failure_armed())
    RC_FAIL(show(c, out) + " armed the allocation-failure gate");
  if (before.allocation_failure_armed() && !after.allocation_failure_armed()) {
    if (out != "error ENOMEM") RC_FAIL(show(c, out) + " consumed the injected allocation failure");
    ++seen.injected;
  }
  const auto v = before.vma_lookup(c.addr);
  if (c.op == Op::kMprotect && (out == "error ENOMEM" || out == "error EACCES") && v) {
    if (check_partial_mprotect(c, out, before, after)) ++seen.partial_mprotect;
    return;
  }
  if (c.op == Op::kPopulate && before.life() == LifeState::kLive) {
    if (check_partial_populate(c, out, before, after)) ++seen.partial_populate;
    return;
  }
  if (c.op == Op::kRead && (out == "error SIGBUS" || out == "error ENOMEM") && v &&
      v->backing.kind == BackingKind::kFile) {
    if (check_fault_around_kept(c, out, *v, before, after)) ++seen.fault_around_kept;
    return;
  }
  if (c.op == Op::kWrite && out == "error SIGBUS" && v && v->backing.kind == BackingKind::kFile &&
      !v->is_shared() && check_cow_anon_vma_kept(c, out, *v, before, after)) {
    ++seen.cow_anon_vma_kept;
    return;
  }
  const std::string d = diff_except(before, after, {"fail_next_alloc"});
  if (!d.empty()) RC_FAIL(show(c, out) + " failed yet changed the state (before | after):\n" + d);
}

// Invariant (model/system.h header: "Every operation returns a result or a
// specific error, and an operation that fails changes nothing", with the
// exceptions it documents; SPEC.md section 4: "A fault outside any VMA
// or without permission is an error (SIGSEGV-like), with nothing changed";
// section 3 for mmap/munmap/mprotect/vm_insert_page errors): after every
// command whose outcome is an error, the observed state equals the state
// before it, except that (a) an injected allocation failure is consumed by
// the ENOMEM it causes, (b) mprotect's ENOMEM/EACCES keeps the changes made
// to the VMAs before the failure point, (c) a failed read fault on a file
// VMA keeps what fault-around mapped, (d) a failed populate keeps the pages
// it faulted in before the failing page. The sequence is random, lifetime
// commands included, with extra allocation-failure injection.
RC_GTEST_PROP(FailureAtomicity, FailedOperationsChangeNothing, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  System prev = impl.observe();
  Seen seen;
  PrefixOptions opt;
  opt.lifetime = true;
  opt.max_commands = kCommands;
  opt.gen = [](const cmd::ModelRunner& model) {
    Command arm;
    arm.op = Op::kFailNextAllocation;
    return rc::gen::weightedOneOf<Command>({{5, gen_command(model)},
                                            {1, rc::gen::just(arm)},
                                            {1, gen_touch(model)},
                                            {2, gen_error_prone(model)}});
  };
  opt.on_step = [&](const Command& c, const std::string& out) {
    System now = impl.observe();
    if (out.starts_with("error")) check_failed(c, out, prev, now, seen);
    prev = std::move(now);
  };
  run_prefix(m, impl, opt);
  RC_CLASSIFY(seen.errors == 0, "no error");
  RC_CLASSIFY(seen.injected > 0, "injected ENOMEM");
  RC_CLASSIFY(seen.partial_mprotect > 0, "partial mprotect");
  RC_CLASSIFY(seen.fault_around_kept > 0, "fault-around kept");
  RC_CLASSIFY(seen.cow_anon_vma_kept > 0, "anon_vma of a SIGBUS store kept");
  RC_CLASSIFY(seen.partial_populate > 0, "partial populate kept");
}

}  // namespace
}  // namespace mmv::props
