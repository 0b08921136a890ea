#include "properties/reach.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

#include "impl/mmu_gather.h"
#include "impl/tlb.h"

namespace mmv::props {
namespace {

using cmd::Op;

// The commands that name no address: they hit "-" (Hit::kNone).
bool takes_no_address(Op op) {
  switch (op) {
    case Op::kAllocPage: case Op::kPutPage: case Op::kWriteback: case Op::kMmgrab:
    case Op::kMmdrop: case Op::kMmgetNotZero: case Op::kMmput: case Op::kMmputAsync:
    case Op::kMmapReadTrylock: case Op::kFailNextAllocation:
      return true;
    default:
      return false;
  }
}

bool is_range_op(Op op) {
  return op == Op::kMmap || op == Op::kMunmap || op == Op::kMprotect || op == Op::kZap ||
         op == Op::kZapUnderVmaLock || op == Op::kPopulate;
}

const Vma* vma_at(const model::System& s, Addr a) {
  auto it = s.vmas().upper_bound(a);
  if (it == s.vmas().begin()) return nullptr;
  --it;
  return it->second.contains(a) ? &it->second : nullptr;
}

Hit pte_hit(const model::System& s, Addr a, const model::Pte& pte) {
  if (pte.zero_page) return Hit::kZero;
  const Vma* v = vma_at(s, a);
  const FolioKind kind = s.folios().at(pte.folio).kind;
  if (kind == FolioKind::kDriver) return Hit::kDriver;
  const bool file = v && v->backing.kind == BackingKind::kFile;
  if (kind == FolioKind::kAnon) return file ? Hit::kFileCow : Hit::kAnon;
  return v && v->is_shared() ? Hit::kFileShared : Hit::kFilePrivate;
}

// The cells one command hits, each once.
class Hits {
 public:
  void add(Hit h, bool dirty = false, bool wp = false, bool partial = false) {
    cells_.insert({h, Met::kAny});
    if (dirty) cells_.insert({h, Met::kDirty});
    if (wp) cells_.insert({h, Met::kWriteProtected});
    if (partial) cells_.insert({h, Met::kPartial});
  }
  const std::set<std::pair<Hit, Met>>& cells() const { return cells_; }

 private:
  std::set<std::pair<Hit, Met>> cells_;
};

// Everything mapped in [lo, hi), plus "empty" for VMA pages with nothing
// mapped and "no-vma" for pages outside every VMA.
void range_hits(const model::System& s, Addr lo, Addr hi, Hits& out) {
  const auto& pt = s.page_table();
  std::uint64_t mapped = 0;
  for (auto it = pt.pmd_leaves.lower_bound(pmd_down(lo)); it != pt.pmd_leaves.end() && it->first < hi; ++it) {
    const Addr block = it->first;
    if (block + kPmdSize <= lo) continue;
    const Addr a = std::max(lo, block), b = std::min(hi, block + kPmdSize);
    mapped += (b - a) / kPageSize;
    out.add(Hit::kThp, it->second.dirty, !it->second.writable, a != block || b != block + kPmdSize);
  }
  for (auto it = pt.ptes.lower_bound(lo); it != pt.ptes.end() && it->first < hi; ++it) {
    ++mapped;
    out.add(pte_hit(s, it->first, it->second), it->second.dirty, !it->second.writable);
  }
  std::uint64_t in_vmas = 0;
  for (const auto& [start, v] : s.vmas()) {
    if (v.end <= lo || v.start >= hi) continue;
    in_vmas += (std::min(hi, v.end) - std::max(lo, v.start)) / kPageSize;
  }
  if (in_vmas > mapped) out.add(Hit::kEmpty);
  if ((hi - lo) / kPageSize > in_vmas) out.add(Hit::kNoVma);
}

void point_hits(const model::System& s, Addr a, Hits& out) {
  a = page_down(a);
  const auto& pt = s.page_table();
  if (auto it = pt.pmd_leaves.find(pmd_down(a)); it != pt.pmd_leaves.end()) {
    out.add(Hit::kThp, it->second.dirty, !it->second.writable);
  } else if (auto p = pt.ptes.find(a); p != pt.ptes.end()) {
    out.add(pte_hit(s, a, p->second), p->second.dirty, !p->second.writable);
  } else {
    out.add(vma_at(s, a) ? Hit::kEmpty : Hit::kNoVma);
  }
}

// Where a command's range or point starts: the mmap address, the zap start
// or the insert address, else its address.
Addr start_of(const cmd::Command& c) {
  switch (c.op) {
    case Op::kMmap: return c.mmap.addr;
    case Op::kZap:
    case Op::kZapUnderVmaLock:
    case Op::kInsertPage: return c.addr2;
    default: return c.addr;
  }
}

// [lo, hi) of a range command, if its range is one (not empty, not
// overflowing, inside the user address space).
std::optional<std::pair<Addr, Addr>> range_of(const cmd::Command& c) {
  const std::uint64_t len = c.op == Op::kMmap ? c.mmap.length : c.len;
  const Addr lo = page_down(start_of(c));
  const Addr hi = page_down(lo + len + kPageSize - 1);
  if (len == 0 || hi <= lo || hi > kTaskSize) return std::nullopt;
  return std::pair{lo, hi};
}

}  // namespace

std::vector<std::vector<Addr>> mapped_groups(const model::System& s) {
  std::array<std::vector<Addr>, kNumHits * 4> by;
  auto group = [](Hit h, bool dirty, bool writable) {
    return static_cast<int>(h) * 4 + (dirty ? 2 : 0) + (writable ? 0 : 1);
  };
  for (const auto& [block, leaf] : s.page_table().pmd_leaves)
    by[group(Hit::kThp, leaf.dirty, leaf.writable)].push_back(block);
  for (const auto& [a, pte] : s.page_table().ptes)
    by[group(pte_hit(s, a, pte), pte.dirty, pte.writable)].push_back(a);
  std::vector<std::vector<Addr>> out;
  for (std::vector<Addr>& g : by)
    if (!g.empty()) out.push_back(std::move(g));
  return out;
}

const char* hit_name(Hit h) {
  static constexpr const char* kNames[] = {"-", "no-vma", "empty", "anon", "thp", "zero",
                                          "file-shared", "file-private", "file-cow", "driver"};
  return kNames[static_cast<int>(h)];
}

const char* met_name(Met m) {
  static constexpr const char* kNames[] = {"any", "dirty", "wp", "partial", "teardown"};
  return kNames[static_cast<int>(m)];
}

bool possible(Op op, Hit hit, Met met) {
  // Once the last user is gone nothing is mapped (every command hits "-"),
  // and mmput / mmput_async need a user reference the run no longer holds.
  if (met == Met::kTeardown) return hit == Hit::kNone && op != Op::kMmput && op != Op::kMmputAsync;
  // "-" is for commands without an address, and they hit nothing else.
  if ((hit == Hit::kNone) != takes_no_address(op)) return false;
  if (met == Met::kAny) return true;
  // States are states of a mapped entry.
  if (hit == Hit::kNone || hit == Hit::kNoVma || hit == Hit::kEmpty) return false;
  // Lookups read the VMA tree and never an entry: what is mapped at the
  // address says which kind of area they found, its state cannot matter.
  if (op == Op::kVmaLookup || op == Op::kLockVmaUnderRcu) return false;
  switch (met) {
    case Met::kDirty:
      // The zero page is never mapped writable, and a page-cache page in a
      // private mapping never is either (a write copies it first).
      return hit != Hit::kZero && hit != Hit::kFilePrivate;
    case Met::kWriteProtected: return true;
    // Only a range can cover part of something, and only a huge page has parts.
    case Met::kPartial: return hit == Hit::kThp && is_range_op(op);
    default: return false;
  }
}

void Reach::count(const cmd::Command& c, const model::System& before) {
  auto bump = [&](Hit h, Met m) { ++n_[static_cast<int>(c.op)][static_cast<int>(h)][static_cast<int>(m)]; };
  if (before.life() != LifeState::kLive) return bump(Hit::kNone, Met::kTeardown);
  if (takes_no_address(c.op)) return bump(Hit::kNone, Met::kAny);
  Hits hits;
  if (c.op == Op::kMmap && !c.mmap.fixed) {
    hits.add(Hit::kNoVma);  // first fit: a hole
  } else if (const auto r = is_range_op(c.op) ? range_of(c) : std::nullopt) {
    range_hits(before, r->first, r->second, hits);
  } else {
    const Addr a = start_of(c);
    if (a < kTaskSize) {
      point_hits(before, a, hits);
    } else {
      hits.add(Hit::kNoVma);
    }
  }
  for (const auto& [h, m] : hits.cells()) bump(h, m);
}

std::uint64_t Reach::at(Op op, Hit hit, Met met) const {
  return n_[static_cast<int>(op)][static_cast<int>(hit)][static_cast<int>(met)];
}

// ---- Sizes and boundaries --------------------------------------------------

const char* size_name(Size s) {
  static constexpr const char* kNames[] = {"across-2M", "across-1G", "over-batch", "over-table",
                                          "batch+tlb", "tlb-evict"};
  return kNames[static_cast<int>(s)];
}

bool possible(Op op, Size s) {
  switch (s) {
    // Every command with a range can have one that crosses.
    case Size::kAcross2M:
    case Size::kAcross1G: return is_range_op(op);
    // Only populate faults pages in by the range.
    case Size::kOverBatch:
    case Size::kOverTable: return op == Op::kPopulate;
    // The commands that clear mappings through a gather.
    case Size::kBatchTlb: return op == Op::kZap || op == Op::kZapUnderVmaLock || op == Op::kMunmap;
    // The commands that fill a TLB.
    case Size::kTlbEvict: return op == Op::kRead || op == Op::kWrite;
  }
  return false;
}

std::vector<Addr> pages_past_first_batch(const model::System& s, Addr lo, Addr hi) {
  // The entries the gather takes, in its order: (address, last page).
  std::vector<std::pair<Addr, Addr>> entries;
  const auto& pt = s.page_table();
  for (auto it = pt.pmd_leaves.lower_bound(pmd_down(lo)); it != pt.pmd_leaves.end() && it->first < hi; ++it) {
    const Addr block = it->first;
    if (block + kPmdSize <= lo) continue;
    if (block >= lo && block + kPmdSize <= hi) {
      entries.emplace_back(block, block + kPmdSize - kPageSize);  // removed whole: one entry
    } else {
      for (Addr a = std::max(lo, block); a < std::min(hi, block + kPmdSize); a += kPageSize)
        entries.emplace_back(a, a);  // split first: one per page
    }
  }
  for (auto it = pt.ptes.lower_bound(lo); it != pt.ptes.end() && it->first < hi; ++it)
    if (!it->second.zero_page) entries.emplace_back(it->first, it->first);
  if (entries.size() <= impl::MmuGather::kBatch) return {};
  std::sort(entries.begin(), entries.end());
  const Addr last_of_first = entries[impl::MmuGather::kBatch - 1].second;
  std::vector<Addr> out;
  for (const auto& [first, last] : entries)
    for (Addr a = first; a <= last; a += kPageSize)
      if (a > last_of_first) out.push_back(a);
  return out;
}

namespace {

// Whether an area of `s` covers both sides of a multiple of `boundary`
// inside [lo, hi).
bool crosses(const model::System& s, Addr lo, Addr hi, Addr boundary) {
  for (const auto& [start, v] : s.vmas()) {
    if (v.end <= lo || v.start >= hi) continue;
    const Addr a = std::max(lo, v.start), e = std::min(hi, v.end);
    // Inside the area, or where it ends and the next one begins.
    if ((a / boundary + 1) * boundary < e) return true;
    if (e == v.end && e < hi && e % boundary == 0 && s.vmas().contains(e)) return true;
  }
  return false;
}

}  // namespace

void Reach::count_sizes(const cmd::Command& c, const model::System& before, const model::System& after,
                        const std::string& out, const TlbView& tlb) {
  auto bump = [&](Size s) { ++sizes_[static_cast<int>(c.op)][static_cast<int>(s)]; };
  if (before.life() != LifeState::kLive) return;
  const bool ok = out == "ok" || out == "zapped" || out.rfind("ok ", 0) == 0;
  if ((c.op == Op::kRead || c.op == Op::kWrite) && ok && c.cpu < tlb.size()) {
    const Addr page = page_down(c.addr);
    const auto slot = [](Addr a) { return (a >> kPageShift) % impl::Tlbs::kEntries; };
    for (Addr held : tlb[c.cpu])
      if (held != page && slot(held) == slot(page)) bump(Size::kTlbEvict);
    return;
  }
  if (!is_range_op(c.op) || !ok) return;
  std::optional<std::pair<Addr, Addr>> r = range_of(c);
  if (c.op == Op::kMmap && r) {  // where it was placed
    const Addr at = std::stoull(out.substr(3), nullptr, 16);
    r = std::pair{at, at + (r->second - r->first)};
  }
  if (!r) return;
  const auto [lo, hi] = *r;
  const model::System& areas = c.op == Op::kMmap ? after : before;
  if (crosses(areas, lo, hi, kPmdSize)) bump(Size::kAcross2M);
  if (crosses(areas, lo, hi, kPudSize)) bump(Size::kAcross1G);
  if (c.op == Op::kPopulate) {
    // Pages faulted in: present and writable now, not before.
    std::uint64_t faulted = 0;
    const auto& b = before.page_table();
    const auto& a = after.page_table();
    for (auto it = a.ptes.lower_bound(lo); it != a.ptes.end() && it->first < hi; ++it) {
      const auto was = b.ptes.find(it->first);
      faulted += it->second.writable && (was == b.ptes.end() || !was->second.writable);
    }
    for (auto it = a.pmd_leaves.lower_bound(pmd_down(lo)); it != a.pmd_leaves.end() && it->first < hi; ++it) {
      const auto was = b.pmd_leaves.find(it->first);
      if (it->second.writable && (was == b.pmd_leaves.end() || !was->second.writable)) faulted += kPagesPerPmd;
    }
    if (faulted > impl::MmuGather::kBatch) bump(Size::kOverBatch);
    if (faulted > kEntriesPerTable) bump(Size::kOverTable);
  }
  if (possible(c.op, Size::kBatchTlb)) {
    const std::vector<Addr> past = pages_past_first_batch(before, lo, hi);
    const std::set<Addr> late(past.begin(), past.end());
    bool held = false;
    for (const std::vector<Addr>& cpu : tlb)
      for (Addr p : cpu) held = held || late.contains(p);
    if (held) bump(Size::kBatchTlb);
  }
}

std::uint64_t Reach::at(Op op, Size s) const { return sizes_[static_cast<int>(op)][static_cast<int>(s)]; }

namespace {

std::string cell_name(Op op, Hit hit, Met met) {
  return std::string(cmd::op_name(op)) + "/" + hit_name(hit) + "/" + met_name(met);
}

// Calls fn(op, hit, met) for every possible cell.
template <typename Fn>
void for_each_possible_cell(Fn fn) {
  for (int o = 0; o < cmd::kNumOps; ++o)
    for (int h = 0; h < kNumHits; ++h)
      for (int m = 0; m < kNumMets; ++m)
        if (possible(static_cast<Op>(o), static_cast<Hit>(h), static_cast<Met>(m)))
          fn(static_cast<Op>(o), static_cast<Hit>(h), static_cast<Met>(m));
}

std::string size_cell_name(Op op, Size s) { return std::string(cmd::op_name(op)) + "/" + size_name(s); }

// Calls fn(op, size) for every possible cell of the sizes table.
template <typename Fn>
void for_each_possible_size(Fn fn) {
  for (int o = 0; o < cmd::kNumOps; ++o)
    for (int s = 0; s < kNumSizes; ++s)
      if (possible(static_cast<Op>(o), static_cast<Size>(s))) fn(static_cast<Op>(o), static_cast<Size>(s));
}

}  // namespace

std::vector<std::string> Reach::missing() const {
  std::vector<std::string> out;
  for_each_possible_cell([&](Op op, Hit hit, Met met) {
    if (at(op, hit, met) == 0) out.push_back(cell_name(op, hit, met));
  });
  for_each_possible_size([&](Op op, Size s) {
    if (at(op, s) == 0) out.push_back(size_cell_name(op, s));
  });
  return out;
}

int Reach::possible_cells() const {
  int n = 0;
  for_each_possible_cell([&](Op, Hit, Met) { ++n; });
  for_each_possible_size([&](Op, Size) { ++n; });
  return n;
}

std::string Reach::table() const {
  std::ostringstream os;
  for (int o = 0; o < cmd::kNumOps; ++o) {
    const auto op = static_cast<Op>(o);
    os << "reach " << cmd::op_name(op) << ':';
    for (int h = 0; h < kNumHits; ++h) {
      const auto hit = static_cast<Hit>(h);
      bool any = false;
      for (int m = 0; m < kNumMets; ++m) any = any || possible(op, hit, static_cast<Met>(m));
      if (!any) continue;
      os << ' ' << hit_name(hit) << '=' << at(op, hit, Met::kAny);
      std::string states;
      for (int m = 1; m < kNumMets; ++m) {
        const auto met = static_cast<Met>(m);
        if (!possible(op, hit, met)) continue;
        states += (states.empty() ? "" : ",") + std::string(met_name(met)) + '=' + std::to_string(at(op, hit, met));
      }
      if (!states.empty()) os << '(' << states << ')';
    }
    os << '\n';
  }
  // The sizes table: one line, the operations that have a possible cell.
  os << "reach sizes:";
  for (int o = 0; o < cmd::kNumOps; ++o) {
    const auto op = static_cast<Op>(o);
    std::string cells;
    for (int s = 0; s < kNumSizes; ++s) {
      const auto size = static_cast<Size>(s);
      if (possible(op, size)) cells += ' ' + std::string(size_name(size)) + '=' + std::to_string(at(op, size));
    }
    if (!cells.empty()) os << ' ' << cmd::op_name(op) << ':' << cells << ';';
  }
  os << '\n';
  // The rarest cells hit: where the next hole would open.
  std::vector<std::pair<std::uint64_t, std::string>> hit;
  for_each_possible_cell([&](Op op, Hit c, Met met) {
    if (at(op, c, met) > 0) hit.emplace_back(at(op, c, met), cell_name(op, c, met));
  });
  for_each_possible_size([&](Op op, Size s) {
    if (at(op, s) > 0) hit.emplace_back(at(op, s), size_cell_name(op, s));
  });
  std::sort(hit.begin(), hit.end());
  os << "reach rarest:";
  for (std::size_t i = 0; i < std::min<std::size_t>(6, hit.size()); ++i) os << ' ' << hit[i].second << '=' << hit[i].first;
  os << '\n';
  const std::vector<std::string> holes = missing();
  os << "reach: " << possible_cells() - static_cast<int>(holes.size()) << " of " << possible_cells()
     << " possible cells hit";
  if (!holes.empty()) {
    os << "; never hit:";
    for (const std::string& h : holes) os << ' ' << h;
  }
  return os.str();
}

}  // namespace mmv::props
