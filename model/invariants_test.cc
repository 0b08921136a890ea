// The model checked against itself: random operation sequences must keep
// every invariant the model's headers state (System::check_invariants), and
// an operation that fails must change nothing (system.h's contract; mprotect
// and file read faults are its documented exceptions). Failures print RapidCheck's reproduce string.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "model/describe.h"
#include "model/system.h"
#include "testing/rc_default_params.h"

namespace mmv::model {
namespace {

MMV_RC_DEFAULT_PARAMS("seed=1 max_success=1000");

// A window that spans a 2 MiB boundary and a PUD (1 GiB) boundary, so table
// allocation and freeing at every level is reached.
constexpr Addr kLo = 0x3fe00000;
constexpr Addr kPages = 1024;  // 4 MiB

enum class Op { kMmapAnon, kMmapHuge, kMmapFile, kMmapDriver, kMunmap, kMprotect,
                kRead, kWrite, kZap, kAllocPage, kInsert, kWriteback, kFailAlloc, kPutPage };

struct Step {
  Op op;
  std::uint64_t a, b, c;  // page indices / sizes / values, interpreted per op
};

std::string to_string(const Step& s) {
  static constexpr const char* kNames[] = {
      "mmap_anon", "mmap_huge", "mmap_file", "mmap_driver", "munmap", "mprotect",
      "read",      "write",     "zap",       "alloc_page",  "insert", "writeback",
      "fail_alloc", "put_page"};
  return std::string(kNames[static_cast<int>(s.op)]) + "(" + std::to_string(s.a) +
         "," + std::to_string(s.b) + "," + std::to_string(s.c) + ")";
}

std::ostream& operator<<(std::ostream& os, const Step& s) { return os << to_string(s); }

Addr at(std::uint64_t page) { return kLo + (page % kPages) * kPageSize; }

// An address inside the n-th VMA (mod their number), `page` pages in; or an
// absolute address in the window when there is no VMA. Keeps accesses and
// zaps where the mappings are, without making the steps depend on state.
Addr in_vma(const System& s, std::uint64_t n, std::uint64_t page) {
  if (s.vmas().empty()) return at(page);
  auto it = s.vmas().begin();
  std::advance(it, n % s.vmas().size());
  return it->second.start + (page % it->second.pages()) * kPageSize;
}

// Applies one step; returns whether the operation failed (an error, or a
// rejected zap), in which case the caller checks that nothing changed.
bool apply(System& s, const Step& st, FileId file, std::vector<FolioId>& pages) {
  auto prot = [](std::uint64_t c) {
    static constexpr VmFlags kProts[] = {0, flags::kRead, flags::kRead | flags::kWrite,
                                         flags::kWrite};
    return kProts[c % 4];
  };
  switch (st.op) {
    case Op::kMmapAnon:
    case Op::kMmapHuge:
    case Op::kMmapFile:
    case Op::kMmapDriver: {
      MmapRequest r;
      r.addr = at(st.a);
      r.fixed = st.c % 3 != 0;
      // Mostly small areas, sometimes one that can hold a 2 MiB THP.
      r.length = (st.b % 5 == 0 ? 512 + st.b % 88 : st.b % 48 + 1) * kPageSize;
      r.prot = prot(st.c / 3);
      if (st.op == Op::kMmapHuge) r.advice = flags::kHugePage;
      if (st.op == Op::kMmapFile) {
        r.backing = {BackingKind::kFile, file, st.c % 8};
        r.shared = st.c % 2;
      }
      if (st.op == Op::kMmapDriver) {
        r.backing.kind = BackingKind::kDriver;
        r.shared = st.c % 2;
        r.setup = {VmaNewOp::kSetMixedMap};
        if (st.c % 5 == 0) r.setup.push_back(VmaNewOp::kTryClearMayWrite);
      }
      return !s.mmap(r).ok();
    }
    case Op::kMunmap:
      return !s.munmap(at(st.a), (st.b % 64) * kPageSize).ok();
    case Op::kMprotect:
      (void)s.mprotect(at(st.a), (st.b % 64) * kPageSize, prot(st.c));
      return false;  // may change state even when it fails
    case Op::kRead:
      return !s.read(in_vma(s, st.a, st.b) + st.c % kPageSize).ok();
    case Op::kWrite:
      return !s.write(in_vma(s, st.a, st.b) + st.c % kPageSize,
                      static_cast<std::uint8_t>(st.c | 1))
                  .ok();
    case Op::kZap: {
      const Addr vma = in_vma(s, st.a, 0);
      const Addr addr = in_vma(s, st.a, st.b) + (st.c % 3 == 0 ? st.c % kPageSize : 0) -
                        (st.c % 5 == 0 ? kPageSize : 0);
      // Mostly a few pages; sometimes far past the VMA's end.
      const std::uint64_t size = (st.c % 4 == 0 ? st.c % 600 : st.c % 9) * kPageSize;
      auto r = s.zap_page_range_single(vma, addr, size);
      return !r.ok() || r.value() == ZapOutcome::kRejected;
    }
    case Op::kAllocPage: {
      auto p = s.alloc_page();
      if (p.ok()) pages.push_back(p.value());
      return !p.ok();
    }
    case Op::kInsert:
      // Page ids past the allocated ones exercise the EINVAL path.
      return !s.vm_insert_page(in_vma(s, st.a, 0), in_vma(s, st.a, st.b),
                               st.c % 7 == 0 || pages.empty() ? st.c % 50
                                                              : pages[st.c % pages.size()])
                  .ok();
    case Op::kWriteback:
      return !s.writeback(file).ok();
    case Op::kFailAlloc:
      s.fail_next_allocation();
      return false;
    case Op::kPutPage:
      if (pages.empty()) return false;
      return !s.put_page(pages[st.c % pages.size()]).ok();
  }
  return false;
}

RC_GTEST_PROP(ModelInvariants, HoldAfterEveryOperation, ()) {
  const auto steps = *rc::gen::container<std::vector<Step>>(rc::gen::build<Step>(
      rc::gen::set(&Step::op, rc::gen::element(
          Op::kMmapAnon, Op::kMmapHuge, Op::kMmapFile, Op::kMmapDriver, Op::kMunmap,
          Op::kMprotect, Op::kRead, Op::kWrite, Op::kWrite, Op::kRead, Op::kZap,
          Op::kZap, Op::kAllocPage, Op::kInsert, Op::kInsert, Op::kWriteback, Op::kFailAlloc, Op::kPutPage)),
      // Page indices, biased toward 2 MiB boundaries (multiples of 512).
      // Fields are generated at full size: inRange scales with the case's
      // size, which would make small cases pick choice 0 (PROT_NONE) always.
      rc::gen::set(&Step::a, rc::gen::resize(100, rc::gen::weightedOneOf<std::uint64_t>(
                                 {{3, rc::gen::inRange<std::uint64_t>(0, kPages)},
                                  {1, rc::gen::element<std::uint64_t>(0, 1, 511, 512, 513)}}))),
      // Offsets and lengths: mostly small, so accesses and zaps meet.
      rc::gen::set(&Step::b, rc::gen::resize(100, rc::gen::weightedOneOf<std::uint64_t>(
                                 {{3, rc::gen::inRange<std::uint64_t>(0, 8)},
                                  {1, rc::gen::inRange<std::uint64_t>(0, 1200)}}))),
      rc::gen::set(&Step::c, rc::gen::resize(100, rc::gen::inRange<std::uint64_t>(0, 1 << 16)))));
  System s(kLo, kLo + kPages * kPageSize);
  std::vector<PageBytes> contents(8);
  for (std::uint32_t i = 0; i < 8; ++i) contents[i].set(i, static_cast<std::uint8_t>(i + 1));
  const FileId file = s.create_file(
      contents, *rc::gen::arbitrary<bool>() ? System::Cache::kCold : System::Cache::kWarm);
  std::vector<FolioId> pages;
  bool thp = false, split = false, cow = false, zapped = false, injected = false;
  for (const Step& st : steps) {
    const System before = s;
    const bool failed = apply(s, st, file, pages);
    thp |= !s.page_table().pmd_leaves.empty();
    for (const auto& [a, pte] : s.page_table().ptes)
      split |= !pte.zero_page && s.folios().at(pte.folio).order == 9;
    cow |= st.op == Op::kWrite && !failed && before.page(in_vma(s, st.a, st.b)) &&
           !before.page(in_vma(s, st.a, st.b))->writable;
    zapped |= st.op == Op::kZap && s.rss().anon + s.rss().file <
                                       before.rss().anon + before.rss().file;
    injected |= before.allocation_failure_armed() && !s.allocation_failure_armed();
    const auto broken = s.check_invariants();
    if (!broken.empty()) RC_FAIL("after " + to_string(st) + ": " + broken.front());
    // system.h: a read fault in a file VMA keeps what fault-around mapped,
    // even when the fault itself then fails.
    const auto vma = before.vma_lookup(in_vma(before, st.a, st.b));
    const bool fault_around = st.op == Op::kRead && vma &&
                              vma->backing.kind == BackingKind::kFile;
    // system.h: a store beyond the end of a private file mapping keeps the
    // anon_vma do_cow_fault gave the area before the SIGBUS.
    const bool cow_anon_vma = st.op == Op::kWrite && vma && vma->backing.kind == BackingKind::kFile &&
                              !vma->is_shared() && vma->anon_vma == 0 &&
                              s.vma_lookup(vma->start)->anon_vma != 0;
    if (failed && cow_anon_vma) {
      Vma expected = *vma;
      expected.anon_vma = s.vma_lookup(vma->start)->anon_vma;
      RC_ASSERT(*s.vma_lookup(vma->start) == expected);
    }
    if (failed && !fault_around && !cow_anon_vma) {
      // A failed op may consume an injected allocation failure and count a
      // rejected zap; nothing else may change.
      std::string d = diff(before, s);
      for (const char* allowed : {"fail_next_alloc: armed | no\n", "zap_rejections: "}) {
        if (auto pos = d.find(allowed); pos != std::string::npos)
          d.erase(pos, d.find('\n', pos) + 1 - pos);
      }
      if (s.zap_rejections() != before.zap_rejections())
        RC_ASSERT(s.zap_rejections() == before.zap_rejections() + 1);
      if (!d.empty()) RC_FAIL("failed " + to_string(st) + " changed state:\n" + d);
    }
  }
  RC_CLASSIFY(thp, "THP mapped");
  RC_CLASSIFY(split, "THP split to PTEs");
  RC_CLASSIFY(cow, "write to a read-only PTE");
  RC_CLASSIFY(zapped, "zap removed pages");
  RC_CLASSIFY(injected, "injected allocation failure consumed");
}

}  // namespace
}  // namespace mmv::model
