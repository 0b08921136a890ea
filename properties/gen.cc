#include "properties/gen.h"

#include <algorithm>
#include <vector>

#include "impl/mmu_gather.h"
#include "impl/tlb.h"
#include "properties/reach.h"

namespace mmv::props {
namespace {

using cmd::Command;
using cmd::Op;

constexpr Addr kP = kPageSize;

// The impl's internal sizes, in pages: a TLB's entries (one set each:
// direct-mapped, impl/tlb.h), the gather's batch (impl/mmu_gather.h), a
// PTE table. An operation one page past one of them is the first to take
// a second batch, a second table or an evicting fill.
constexpr std::uint64_t kTlbPages = impl::Tlbs::kEntries;
constexpr std::uint64_t kBatchPages = impl::MmuGather::kBatch;
constexpr std::uint64_t kTablePages = kEntriesPerTable;

// Page counts one below, at and one above each internal size.
const std::vector<std::uint64_t>& around_sizes() {
  static const std::vector<std::uint64_t> sizes = [] {
    std::vector<std::uint64_t> out;
    for (std::uint64_t n : {kTlbPages, kBatchPages, 2 * kBatchPages, kTablePages})
      for (std::uint64_t d : {n - 1, n, n + 1}) out.push_back(d);
    return out;
  }();
  return sizes;
}

// An area is big when one operation on all of it takes more than one
// gather batch.
bool is_big(const Vma& v) { return v.pages() > kBatchPages; }

// The boundaries at most `limit` of which are listed per area: areas are
// at most a few MiB, but a merge could make a longer one.
constexpr int kBoundariesPerArea = 4;

// Pages of the big areas where their operations change batch, table or
// TLB set: the pages around_sizes() from the start, the page that shares
// the first page past a batch's TLB slot, and each 2 MiB and 1 GiB
// boundary inside, one below, at and one above (and one batch on).
std::vector<Addr> big_marks(const std::vector<Vma>& vmas) {
  std::vector<Addr> out;
  for (const Vma& v : vmas) {
    if (!is_big(v)) continue;
    for (std::uint64_t n : around_sizes())
      if (n < v.pages()) out.push_back(v.start + n * kP);
    if (kBatchPages + kTlbPages < v.pages()) out.push_back(v.start + (kBatchPages + kTlbPages) * kP);
    for (Addr size : {kPmdSize, kPudSize}) {
      int listed = 0;
      for (Addr b = (v.start / size + 1) * size; b < v.end && listed < kBoundariesPerArea; b += size, ++listed)
        for (Addr a : {b - kP, b, b + kP, b + kBatchPages * kP})
          if (a < v.end) out.push_back(a);
    }
  }
  return out;
}

// The 2 MiB boundaries near the window's start and its two 1 GiB ends,
// where big areas are placed (mmap_request), one page on either side and
// one batch on: the pages a large munmap clears after its first batch,
// still aimed at once the area is gone.
std::vector<Addr> boundary_marks() {
  std::vector<Addr> out;
  for (Addr b : {cmd::kWindowLo, cmd::kWindowLo + kPmdSize, cmd::kWindowLo + 2 * kPmdSize, cmd::kWindowHi})
    for (Addr a : {b - kP, b + kP, b + kBatchPages * kP}) out.push_back(a);
  return out;
}

// Addresses worth aiming at: the window's 2 MiB boundaries near its start,
// and each VMA's start and end with their neighbouring pages.
std::vector<Addr> landmarks(const cmd::ModelRunner& m) {
  std::vector<Addr> out;
  for (int i = 0; i < 6; ++i) out.push_back(cmd::kWindowLo + i * kPmdSize);
  out.push_back(cmd::kWindowHi);
  for (const auto& [start, v] : m.system().vmas()) {
    for (Addr a : {v.start, v.end, v.start - kP, v.start + kP, v.end - kP, v.end + kP,
                   pmd_down(v.start) + kPmdSize, v.start + (v.end - v.start) / 2}) {
      out.push_back(page_down(a));
    }
  }
  return out;
}

// What the generators need of the model, copied: generators run lazily and
// must not hold references into a state that RapidCheck moves on from.
struct Targets {
  std::vector<Addr> marks;
  std::vector<Vma> vmas;
  std::size_t pages = 0;
  // Mapped pages grouped by what they are and their state
  // (properties/reach.h): mapped_groups().
  std::vector<std::vector<Addr>> mapped;
  // The groups of `mapped` whose pages are write-protected: where a
  // populate has something to do (a copy, or a reuse).
  std::vector<std::vector<Addr>> mapped_wp;
  std::vector<FileId> files;  // file slot -> the model's file
  std::vector<Vma> big;        // the areas is_big() says are
  std::vector<Addr> big_marks;  // big_marks(vmas)
};

Targets targets(const cmd::ModelRunner& m) {
  Targets t;
  t.marks = landmarks(m);
  for (const auto& [s, v] : m.system().vmas()) t.vmas.push_back(v);
  t.pages = m.holdings().pages.size();
  t.mapped = mapped_groups(m.system());
  for (const std::vector<Addr>& g : t.mapped)
    if (!m.system().page(g.front())->writable) t.mapped_wp.push_back(g);
  for (std::uint32_t slot = 0; slot < std::size(cmd::kFiles); ++slot) t.files.push_back(m.file_id(slot));
  for (const Vma& v : t.vmas)
    if (is_big(v)) t.big.push_back(v);
  t.big_marks = big_marks(t.big);
  return t;
}


rc::Gen<Addr> near_window() {
  // Anywhere in the first 12 MiB of the window (where mmaps land), page
  // aligned.
  return rc::gen::map(rc::gen::inRange<std::uint64_t>(0, 3072),
                      [](std::uint64_t i) { return cmd::kWindowLo + i * kP; });
}

rc::Gen<Addr> page_address(const std::vector<Addr>& marks) {
  return rc::gen::weightedOneOf<Addr>({
      {6, rc::gen::elementOf(marks)},
      {3, near_window()},
      {1, rc::gen::element<Addr>(0, kMmapMinAddr - kP, kTaskSize - kP, cmd::kWindowLo - kPmdSize)},
  });
}

// A page inside one of `vmas` (any address when there are none), sometimes
// with an offset into the page.
rc::Gen<Addr> inside_vma(const std::vector<Vma>& vmas, const std::vector<Addr>& marks,
                         VmFlags must_have = 0) {
  // By kind first (anonymous, shared file, private file, driver), then the
  // area: a private file mapping, where copies on write live, is aimed at
  // as often as the anonymous areas, which outnumber it.
  std::vector<std::vector<Vma>> kinds(4);
  for (const Vma& v : vmas) {
    if ((v.flags & must_have) != must_have) continue;
    const bool file = v.backing.kind == BackingKind::kFile;
    kinds[v.backing.kind == BackingKind::kDriver ? 3 : file ? 1 + v.is_shared() : 0].push_back(v);
  }
  std::erase_if(kinds, [](const std::vector<Vma>& k) { return k.empty(); });
  if (kinds.empty()) return page_address(marks);
  return rc::gen::exec([kinds] {
    const Vma v = *rc::gen::elementOf(*rc::gen::elementOf(kinds));
    const Addr a = v.start + (*rc::gen::inRange<std::uint64_t>(0, v.pages())) * kP;
    return *rc::gen::inRange(0, 4) == 0 ? a + *rc::gen::inRange<std::uint64_t>(0, kP) : a;
  });
}

// A mapped page, its group (kind and state) first and then the page: a
// write-protected private copy of a file page is aimed at as often as a
// dirty anonymous page, though there are far fewer of them. Without this,
// the reach table's rarest cells were hit in fewer than one run in two.
rc::Gen<Addr> mapped_page(const Targets& t) {
  if (t.mapped.empty()) return page_address(t.marks);
  return rc::gen::exec([groups = t.mapped] {
    const std::vector<Addr>& group = *rc::gen::elementOf(groups);
    const Addr a = *rc::gen::elementOf(group);
    const bool huge = a % kPmdSize == 0 && (*rc::gen::inRange(0, 2) == 0);
    return huge ? a + (*rc::gen::inRange<std::uint64_t>(0, kPmdSize / kP)) * kP : a;
  });
}

rc::Gen<Addr> any_address(const std::vector<Addr>& marks) {
  return rc::gen::weightedOneOf<Addr>({
      {4, page_address(marks)},
      {1, rc::gen::apply([](Addr a, std::uint32_t off) { return a + off; }, page_address(marks),
                         rc::gen::inRange<std::uint32_t>(1, kPageSize))},
  });
}

// Where a load, store or lookup goes: with a big area, often where its
// operations change batch, table or TLB set (big_marks), so that loads on
// several CPUs cache those pages before a large zap and touch them after.
rc::Gen<Addr> access_address(const Targets& t) {
  if (t.big_marks.empty()) {
    return rc::gen::weightedOneOf<Addr>({{4, inside_vma(t.vmas, t.marks)},
                                         {1, any_address(t.marks)},
                                         {3, mapped_page(t)},
                                         {1, rc::gen::elementOf(boundary_marks())}});
  }
  return rc::gen::weightedOneOf<Addr>({{4, inside_vma(t.vmas, t.marks)},
                                       {1, any_address(t.marks)},
                                       {3, mapped_page(t)},
                                       {1, rc::gen::elementOf(boundary_marks())},
                                       {4, rc::gen::elementOf(t.big_marks)}});
}

// A large private anonymous area: around_sizes() long (or a table and a
// batch and one), placed so that it crosses a 2 MiB boundary of the window
// or one of its 1 GiB ends with one page, a batch less one, a batch, a
// batch and one or half of it below the boundary, or starts at one.
MmapRequest big_area() {
  MmapRequest r;
  r.fixed = true;
  r.prot = flags::kRead | flags::kWrite;
  const std::uint64_t pages = *rc::gen::weightedOneOf<std::uint64_t>(
      {{4, rc::gen::elementOf(std::vector<std::uint64_t>(around_sizes().begin() + 3, around_sizes().end()))},
       {1, rc::gen::just(kTablePages + kBatchPages + 1)}});
  r.length = pages * kP;
  const Addr boundary = *rc::gen::weightedElement<Addr>({{2, cmd::kWindowLo + kPmdSize},
                                                         {2, cmd::kWindowLo + 2 * kPmdSize},
                                                         {1, cmd::kWindowLo},
                                                         {1, cmd::kWindowHi}});
  const std::uint64_t below = *rc::gen::element<std::uint64_t>(0, 1, kBatchPages - 1, kBatchPages, kBatchPages + 1,
                                                                pages / 2);
  r.addr = boundary - std::min(below, pages - 1) * kP;
  // Sometimes HUGEPAGE: whole 2 MiB blocks inside become THPs, one gather
  // entry each.
  if (*rc::gen::inRange(0, 6) == 0) r.advice = flags::kHugePage;
  return r;
}

rc::Gen<std::uint64_t> lengths() {
  return rc::gen::weightedOneOf<std::uint64_t>({
      {6, rc::gen::map(rc::gen::inRange<std::uint64_t>(1, 40), [](std::uint64_t n) { return n * kP; })},
      {2, rc::gen::map(rc::gen::inRange<std::uint64_t>(1, 3), [](std::uint64_t n) { return n * kPmdSize; })},
      {1, rc::gen::element<std::uint64_t>(0, 1, kP - 1, kP + 1, kPmdSize + kP, kPudSize)},
      {1, rc::gen::element<std::uint64_t>(~std::uint64_t{0}, ~std::uint64_t{0} - kP + 1,
                                          kTaskSize, std::uint64_t{1} << 63)},
  });
}

// What a generator makes: every command, the memory commands, or only the
// commands that change the VMA tree (linux/linux_runner.h: mmap with a
// fixed address of an anonymous private area or a file, munmap, mprotect,
// and stores, whose faults give VMAs their anon_vmas).
enum class Scope { kAll, kMemory, kVmaTree };

rc::Gen<MmapRequest> mmap_request(const std::vector<Addr>& marks, Scope scope = Scope::kAll) {
  return rc::gen::exec([marks, scope] {
    MmapRequest r;
    // Files weigh most: a file mapping has the most states to reach (clean,
    // dirty, beyond the end, private copies, write-protected copies), and
    // fewer than one write in ten found a writable private one at 3 in 12.
    // The VMA tree has no drivers and no shared anonymous memory.
    const int kind = scope == Scope::kVmaTree
                         ? *rc::gen::weightedElement<int>({{6, 0}, {2, 1}, {6, 2}})
                         : *rc::gen::weightedElement<int>({{4, 0}, {2, 1}, {6, 2}, {3, 3}, {1, 4}, {2, 5}});
    if (kind == 5) return big_area();
    r.fixed = scope == Scope::kVmaTree || *rc::gen::weightedElement<bool>({{3, true}, {1, false}});
    r.addr = *page_address(marks);
    r.prot = *rc::gen::weightedElement<VmFlags>(
        {{6, flags::kRead | flags::kWrite}, {2, flags::kRead}, {1, 0}, {1, flags::kRead | flags::kExec}});
    r.length = *rc::gen::weightedOneOf<std::uint64_t>({
        {8, rc::gen::map(rc::gen::inRange<std::uint64_t>(1, 33), [](std::uint64_t n) { return n * kP; })},
        {1, rc::gen::element<std::uint64_t>(0, kP / 2, ~std::uint64_t{0} - 10)},
    });
    switch (kind) {
      case 0: break;  // private anonymous
      case 1:         // THP-eligible anonymous: 2 MiB aligned, 2 or 4 MiB long
        r.addr = pmd_down(r.addr) + (*rc::gen::inRange(0, 2)) * kPmdSize;
        r.length = (*rc::gen::inRange(1, 3)) * kPmdSize;
        r.advice = *rc::gen::weightedElement<VmFlags>(
            {{6, flags::kHugePage}, {1, flags::kNoHugePage}, {1, flags::kHugePage | flags::kNoHugePage}});
        break;
      case 2:  // a file, shared or private
        r.backing.kind = BackingKind::kFile;
        r.backing.file = *rc::gen::inRange<std::uint32_t>(0, std::size(cmd::kFiles));
        r.backing.pgoff = *rc::gen::weightedOneOf<std::uint64_t>(
            {{8, rc::gen::inRange<std::uint64_t>(0, 16)}, {1, rc::gen::just(~std::uint64_t{0} - 2)}});
        r.shared = *rc::gen::weightedElement<bool>({{2, false}, {1, true}});
        break;
      case 3:  // a driver area whose handler sets MIXEDMAP (and maybe more)
        r.backing.kind = BackingKind::kDriver;
        r.shared = true;
        r.setup = {VmaNewOp::kSetMixedMap};
        if (*rc::gen::inRange(0, 4) == 0) {
          r.setup.push_back(*rc::gen::element(VmaNewOp::kSetIo, VmaNewOp::kSetDontCopy,
                                              VmaNewOp::kTryClearMayWrite, VmaNewOp::kTryClearMayExec));
        }
        break;
      case 4:  // shared anonymous (not modelled: EINVAL)
        r.shared = true;
        break;
    }
    return r;
  });
}

// An mmap next to an area that exists: right after it, or right before it,
// and for a file at the offsets that continue it, so that the kernel's rules
// for merging a new range are what decides.
MmapRequest beside(MmapRequest r, const std::vector<Vma>& vmas, const std::vector<FileId>& files) {
  if (vmas.empty() || r.length == 0 || r.length % kP != 0 || r.length > 64 * kPmdSize) return r;
  const Vma v = *rc::gen::elementOf(vmas);
  const bool after = *rc::gen::inRange(0, 2) == 0;
  r.addr = after ? v.end : v.start - r.length;
  if (r.backing.kind == BackingKind::kFile && v.backing.kind == BackingKind::kFile &&
      *rc::gen::inRange(0, 3) != 0) {
    r.backing.file = static_cast<std::uint32_t>(
        std::find(files.begin(), files.end(), v.backing.file) - files.begin());
    const std::uint64_t pages = r.length / kP;
    r.backing.pgoff = after ? v.backing.pgoff + v.pages()
                            : (v.backing.pgoff >= pages ? v.backing.pgoff - pages : r.backing.pgoff);
  }
  if (*rc::gen::inRange(0, 2) == 0) {
    r.prot = v.flags & flags::kProtMask;
    r.shared = v.is_shared() && r.backing.kind == BackingKind::kFile;
  }
  return r;
}

rc::Gen<Command> gen_with(const cmd::ModelRunner& m, Scope scope) {
  // Full size for every draw: RapidCheck scales inRange with the size, which
  // here is the sequence's, and would starve the later commands and the
  // far ends of each range. Shrinking still works toward the low ends.
  return rc::gen::resize(rc::kNominalSize, rc::gen::exec([t = targets(m), scope] {
    const std::vector<Addr>& marks = t.marks;
    Command c;
    // Weights out of about 300: memory operations dominate. A teardown
    // (mmput of the last user) ends about one sequence in five at the CI
    // budget, and 22% of all commands then run on a torn-down mm: far more
    // than the reach table's teardown cells need, but at twice this rate it
    // was 30% of commands at half the sequence length.
    std::vector<std::pair<std::size_t, Op>> ops = {
        {28, Op::kMmap},        {10, Op::kMunmap},        {12, Op::kMprotect},
        {44, Op::kRead},        {48, Op::kWrite},         {24, Op::kZap},
        {12, Op::kZapUnderVmaLock}, {8, Op::kAllocPage},  {4, Op::kPutPage},
        {16, Op::kInsertPage},  {8, Op::kWriteback},      {6, Op::kLockVmaUnderRcu},
        {6, Op::kVmaLookup},    {10, Op::kPopulate},
    };
    if (scope == Scope::kVmaTree) {
      // Stores mostly inside areas, where they give anon_vmas; mprotect
      // and munmap split and merge what mmap made.
      ops = {{28, Op::kMmap}, {12, Op::kMunmap}, {24, Op::kMprotect}, {24, Op::kWrite}};
    }
    if (scope == Scope::kAll) {
      ops.insert(ops.end(), {{6, Op::kMmgrab},         {4, Op::kMmdrop},
                             {6, Op::kMmgetNotZero},   {1, Op::kMmput},
                             {1, Op::kMmputAsync},     {4, Op::kMmapReadTrylock},
                             {8, Op::kFailNextAllocation}});
    }
    std::size_t total = 0;
    for (const auto& [w, op] : ops) total += w;
    std::size_t pick = *rc::gen::inRange<std::size_t>(0, total);
    for (const auto& [w, op] : ops) {
      if (pick < w) {
        c.op = op;
        break;
      }
      pick -= w;
    }
    switch (c.op) {
      case Op::kMmap:
        c.mmap = *mmap_request(marks, scope);
        if (scope == Scope::kVmaTree) {
          if (*rc::gen::inRange(0, 3) != 0) c.mmap = beside(c.mmap, t.vmas, t.files);
          break;
        }
        // Sometimes over a mapped page: MAP_FIXED must first unmap what is
        // there (and keep its dirt).
        if (c.mmap.fixed && *rc::gen::inRange(0, 3) == 0) c.mmap.addr = *mapped_page(t);
        break;
      case Op::kMunmap:
      case Op::kMprotect:
        if (!t.big.empty() && *rc::gen::inRange(0, 3) == 0) {
          // A big area: all of it, or from one of its marks to its end, so
          // that one operation crosses its batches and tables.
          const Vma v = *rc::gen::elementOf(t.big);
          c.addr = *rc::gen::weightedOneOf<Addr>({{2, rc::gen::just(v.start)}, {1, rc::gen::elementOf(big_marks({v}))}});
          c.len = v.end - c.addr;
          c.prot = *rc::gen::element<VmFlags>(0, flags::kRead, flags::kRead | flags::kWrite);
          break;
        }
        c.addr = *rc::gen::weightedOneOf<Addr>({{1, page_address(marks)}, {1, mapped_page(t)}});
        if (c.op == Op::kMprotect && *rc::gen::inRange(0, 3) == 0) {
          c.len = *rc::gen::element<std::uint64_t>(std::uint64_t{kP}, std::uint64_t{2 * kP});  // just that page: write-protect it
          c.prot = flags::kRead;
          break;
        }
        c.len = *lengths();
        c.prot = *rc::gen::element<VmFlags>(0, flags::kRead, flags::kRead | flags::kWrite,
                                            flags::kWrite, flags::kRead | flags::kExec, 0x8);
        break;
      case Op::kRead:
        c.addr = *access_address(t);
        c.cpu = *rc::gen::inRange<std::uint8_t>(0, cmd::kCpus);
        break;
      case Op::kLockVmaUnderRcu:
      case Op::kVmaLookup:
        c.addr = *access_address(t);
        break;
      case Op::kWrite:
        c.addr = *access_address(t);
        c.value = *rc::gen::inRange<std::uint8_t>(1, 255);
        c.cpu = *rc::gen::inRange<std::uint8_t>(0, cmd::kCpus);
        break;
      case Op::kZap:
      case Op::kZapUnderVmaLock: {
        // Mostly inside a real VMA: partial, exact, over the edge, size 0,
        // overflowing; sometimes anywhere. A big area often: all of it,
        // around_sizes() pages from its start, or from a mark to its end.
        if (!t.big.empty() && *rc::gen::inRange(0, 3) == 0) {
          const Vma v = *rc::gen::elementOf(t.big);
          c.addr = v.start;
          switch (*rc::gen::inRange(0, 3)) {
            case 0: c.addr2 = v.start; c.len = v.end - v.start; break;
            case 1:
              c.addr2 = v.start;
              c.len = std::min<std::uint64_t>(v.end - v.start, *rc::gen::elementOf(around_sizes()) * kP);
              break;
            default: c.addr2 = *rc::gen::elementOf(big_marks({v})); c.len = v.end - c.addr2; break;
          }
        } else if (!t.mapped.empty() && *rc::gen::inRange(0, 3) == 0) {
          // At a mapped page of some kind: that page alone, a few pages
          // from it, or part of its huge page.
          c.addr = *mapped_page(t);
          c.addr2 = c.addr;
          c.len = *rc::gen::weightedElement<std::uint64_t>({{3, kP}, {2, 3 * kP}, {1, kPmdSize - kP}});
        } else if (!t.vmas.empty() && *rc::gen::inRange(0, 5) != 0) {
          const Vma v = *rc::gen::elementOf(t.vmas);
          c.addr = v.start + (*rc::gen::inRange<std::uint64_t>(0, v.pages())) * kP;
          const std::uint64_t span = v.end - v.start;
          const int shape = *rc::gen::inRange(0, 7);
          const Addr a = v.start + (*rc::gen::inRange<std::uint64_t>(0, span)) / kP * kP +
                         (*rc::gen::inRange(0, 4) == 0 ? *rc::gen::inRange<std::uint64_t>(1, kP) : 0);
          switch (shape) {
            case 0: c.addr2 = v.start; c.len = span; break;                  // exact
            case 1: c.addr2 = a; c.len = std::min<std::uint64_t>(v.end - a, *lengths()); break;  // partial
            case 2: c.addr2 = a; c.len = v.end - a + kP; break;              // over the end
            case 3: c.addr2 = v.start - kP; c.len = 2 * kP; break;           // before the start
            case 4: c.addr2 = a; c.len = 0; break;                           // empty
            case 5: c.addr2 = a; c.len = ~std::uint64_t{0} - a + 2; break;   // overflows
            default: c.addr2 = a; c.len = v.end - a; break;                  // to the end
          }
        } else {
          c.addr = *any_address(marks);
          c.addr2 = *any_address(marks);
          c.len = *lengths();
        }
        break;
      }
      case Op::kPutPage:
      case Op::kInsertPage:
        c.slot = *rc::gen::inRange<std::uint32_t>(
            0, static_cast<std::uint32_t>(std::max<std::size_t>(1, t.pages)));
        // Mostly the first pages of a MIXEDMAP area, so that inserts meet
        // earlier ones (EBUSY) and zaps of them.
        c.addr = *rc::gen::weightedOneOf<Addr>(
            {{4, rc::gen::map(inside_vma(t.vmas, marks, flags::kMixedMap),
                              [vmas = t.vmas](Addr a) {
                                for (const Vma& v : vmas)
                                  if (v.contains(a)) return v.start + (a - v.start) % (3 * kP);
                                return a;
                              })},
             {1, page_address(marks)}});
        c.addr2 = *rc::gen::weightedOneOf<Addr>(
            {{4, rc::gen::just(c.addr)}, {4, mapped_page(t)},
             {4, rc::gen::map(rc::gen::inRange<std::uint64_t>(0, 8), [a = c.addr](std::uint64_t i) { return a + i * kP; })},
             {1, any_address(marks)}});
        break;
      case Op::kWriteback:
        c.slot = *rc::gen::inRange<std::uint32_t>(0, std::size(cmd::kFiles));
        break;
      case Op::kPopulate:
        // MADV_POPULATE_WRITE: mostly all of an area (a big one most
        // often), around_sizes() pages from a mark, a mapped page of each
        // kind and state and the next, or over holes and areas alike;
        // sometimes madvise's bad arguments.
        switch (*rc::gen::weightedElement<int>({{5, 0}, {2, 1}, {4, 4}, {2, 2}, {1, 3}})) {
          case 0:
            if (!t.vmas.empty()) {
              const Vma v = !t.big.empty() && *rc::gen::inRange(0, 4) != 0 ? *rc::gen::elementOf(t.big)
                                                                            : *rc::gen::elementOf(t.vmas);
              c.addr = *rc::gen::inRange(0, 4) == 0 ? v.start + *rc::gen::inRange<std::uint64_t>(0, v.pages()) * kP
                                                    : v.start;
              c.len = v.end - c.addr;
              break;
            }
            [[fallthrough]];
          case 1:
            c.addr = t.big_marks.empty() || *rc::gen::inRange(0, 2) == 0 ? *inside_vma(t.vmas, marks)
                                                                        : *rc::gen::elementOf(t.big_marks);
            c.len = *rc::gen::elementOf(around_sizes()) * kP;
            break;
          case 2:
            c.addr = *page_address(marks);
            c.len = *lengths();
            break;
          case 4:
            c.addr = t.mapped_wp.empty() || *rc::gen::inRange(0, 2) == 0
                         ? *mapped_page(t)
                         : *rc::gen::elementOf(*rc::gen::elementOf(t.mapped_wp));
            c.len = *rc::gen::element<std::uint64_t>(std::uint64_t{kP}, 2 * kP);
            break;
          default:
            c.addr = *any_address(marks);
            c.len = *rc::gen::element<std::uint64_t>(0, 1, kP - 1, kP + 1, ~std::uint64_t{0},
                                                     ~std::uint64_t{0} - kP + 1, kTaskSize);
            break;
        }
        break;
      default: break;
    }
    return c;
  }));
}

}  // namespace

rc::Gen<std::uint64_t> gen_length() { return lengths(); }
rc::Gen<Addr> gen_page_address(const cmd::ModelRunner& m) { return page_address(landmarks(m)); }
rc::Gen<Addr> gen_address(const cmd::ModelRunner& m) { return any_address(landmarks(m)); }
rc::Gen<MmapRequest> gen_mmap(const cmd::ModelRunner& m) { return mmap_request(landmarks(m)); }
rc::Gen<Command> gen_command(const cmd::ModelRunner& m) { return gen_with(m, Scope::kAll); }
rc::Gen<Command> gen_memory_command(const cmd::ModelRunner& m) { return gen_with(m, Scope::kMemory); }
rc::Gen<Command> gen_vma_command(const cmd::ModelRunner& m) { return gen_with(m, Scope::kVmaTree); }

}  // namespace mmv::props
