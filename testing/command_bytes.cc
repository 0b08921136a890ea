#include "testing/command_bytes.h"

#include <iterator>
#include <optional>
#include <utility>

namespace mmv::cmd {

std::uint8_t CommandDecoder::u8() {
  if (n_ == 0) return 0;
  --n_;
  return *p_++;
}

Addr CommandDecoder::addr(const model::System& state) {
  const std::uint8_t how = u8();
  const std::uint16_t where = u16();
  Addr page = kWindowLo + static_cast<Addr>(where % 1024) * kPageSize;
  const auto& ptes = state.page_table().ptes;
  const auto& leaves = state.page_table().pmd_leaves;
  if (how % 4 == 3 && ptes.size() + leaves.size() > 0) {  // the k-th mapped page (or huge page)
    std::size_t k = where % (ptes.size() + leaves.size());
    if (k < leaves.size()) {
      page = std::next(leaves.begin(), static_cast<long>(k))->first;
    } else {
      page = std::next(ptes.begin(), static_cast<long>(k - leaves.size()))->first;
    }
  } else if (how % 4 != 0 && !state.vmas().empty()) {  // page k of the n-th VMA
    auto v = state.vmas().begin();
    std::advance(v, static_cast<long>((how >> 2) % state.vmas().size()));
    page = v->second.start + static_cast<Addr>(where % v->second.pages()) * kPageSize;
    if ((how & 0xe0) == 0xe0) page = v->second.end;  // just past its end (one in eight)
  }
  switch ((how >> 4) % 8) {
    case 4: return pmd_down(page);  // a 2 MiB boundary: where huge pages start
    case 5: return page + kPageSize - 1;
    case 6: return page - 1;
    case 7: return page + (where >> 10) * 61;
    default: return page;
  }
}

std::uint64_t CommandDecoder::length() {
  const std::uint8_t b = u8();
  if (b < 180) return (1 + b % 16) * kPageSize;
  if (b < 210) return (1 + b % 4) * kPmdSize;
  if (b < 240) return (1 + b % 16) * kPageSize - 1 - (b % 3) * 100;  // ends inside a page
  if (b < 248) return 0;
  return ~std::uint64_t{0} - kPageSize * (b % 4);  // overflows every end
}

VmFlags CommandDecoder::prot() {
  // Read-write three times in eight: most paths worth checking need a
  // writable mapping (dirty pages, COW, write faults).
  static constexpr VmFlags kRw = flags::kRead | flags::kWrite;
  static constexpr VmFlags kProts[] = {kRw, kRw, kRw, flags::kRead, 0, flags::kRead | flags::kExec,
                                       flags::kWrite, kRw | flags::kExec};
  return kProts[u8() % std::size(kProts)];
}

MmapRequest CommandDecoder::request(const model::System& state) {
  MmapRequest r;
  const std::uint8_t shape = u8();
  r.fixed = (shape & 1) != 0;
  r.addr = r.fixed || (shape & 2) ? addr(state) : 0;
  r.length = length();
  r.prot = prot();
  // The backing has a byte of its own, so that every combination with the
  // shape bits (fixed, hint, shared, advice) is equally easy to reach.
  const std::uint8_t kind = u8();
  switch (kind % 6) {
    case 0:
    case 1: break;  // private anonymous
    case 2: r.shared = true; break;  // shared anonymous
    case 3:
    case 4:
      r.backing.kind = BackingKind::kFile;
      r.backing.file = (kind >> 3) & 1;
      r.backing.pgoff = u8() % 24;
      r.shared = (shape & 0x40) != 0;
      break;
    case 5:
      r.backing.kind = BackingKind::kDriver;
      r.shared = true;
      r.setup = {VmaNewOp::kSetMixedMap};
      if (shape & 0x40) r.setup.push_back(VmaNewOp::kTryClearMayWrite);
      break;
  }
  if ((shape & 0x80) && r.backing.kind == BackingKind::kAnon && !r.shared) {
    r.advice = flags::kHugePage;
    // Mostly a shape that can hold a huge page (2 MiB aligned, whole 2 MiB
    // blocks), which random bytes would almost never spell; sometimes the
    // advice on any shape, which must still work without one.
    if (shape & 0x20) {
      r.addr = pmd_down(r.addr);
      r.length = (1 + r.length / kPageSize % 2) * kPmdSize;
    }
  }
  return r;
}

namespace {

// The op byte's meaning: weights out of 256, the property generator's
// proportions (properties/gen.cc) in spirit. The ends of the address space's
// life (mmput, mmput_async) and the allocation-failure gate are rare, or
// every input would be dead after its first few commands.
constexpr std::pair<Op, int> kOpWeights[] = {
    {Op::kMmap, 40},          {Op::kMunmap, 14},       {Op::kMprotect, 14},
    {Op::kRead, 34},          {Op::kWrite, 34},        {Op::kZap, 20},
    {Op::kZapUnderVmaLock, 14}, {Op::kAllocPage, 8},   {Op::kPutPage, 6},
    {Op::kInsertPage, 16},    {Op::kWriteback, 10},    {Op::kMmgrab, 6},
    {Op::kMmdrop, 6},         {Op::kMmgetNotZero, 6},  {Op::kMmput, 2},
    {Op::kMmputAsync, 2},     {Op::kLockVmaUnderRcu, 6}, {Op::kMmapReadTrylock, 4},
    {Op::kVmaLookup, 6},      {Op::kFailNextAllocation, 4},
    // Last, so that the bytes below 252 kept their ops when it came.
    {Op::kPopulate, 4},
};

Op op_of(std::uint8_t b) {
  int left = b;
  for (const auto& [op, weight] : kOpWeights) {
    if (left < weight) return op;
    left -= weight;
  }
  return Op::kRead;  // unreachable while the weights add up to 256
}

constexpr int total_weight() {
  int t = 0;
  for (const auto& [op, weight] : kOpWeights) t += weight;
  return t;
}
static_assert(total_weight() == 256, "every op byte names one op");
static_assert(std::size(kOpWeights) == kNumOps, "every op has a weight");

}  // namespace

Command CommandDecoder::next(const model::System& state) {
  ++decoded_;
  Command c;
  c.op = op_of(u8());
  switch (c.op) {
    case Op::kMmap: c.mmap = request(state); break;
    case Op::kMunmap:
    case Op::kMprotect:
      c.addr = addr(state);
      c.len = length();
      c.prot = prot();
      break;
    case Op::kRead:
    case Op::kLockVmaUnderRcu:
    case Op::kVmaLookup: c.addr = addr(state); break;
    case Op::kWrite:
      c.addr = addr(state);
      c.value = u8();
      break;
    case Op::kZap:
    case Op::kZapUnderVmaLock:
    {
      c.addr = addr(state);
      // From the address itself (which may be inside a page: a zap range's
      // start is not rounded), or a few pages on.
      const std::uint8_t shape = u8();
      c.addr2 = shape < 128 ? c.addr : page_down(c.addr) + (shape % 16) * kPageSize;
      c.len = length();
      // Three zaps in four that would run past the VMA's end are cut to end
      // there (sometimes a few bytes short, inside the last page): a zap
      // past the end is rejected before it reaches the page table, and
      // without this seven in eight zaps were.
      const std::optional<Vma> v = state.vma_lookup(c.addr);
      if (v && (shape & 0x30) != 0 && c.addr2 < v->end && c.len > v->end - c.addr2) {
        c.len = v->end - c.addr2;
        const std::uint64_t short_by = (shape & 0x40) ? 1 + (shape % 3) * 100 : 0;
        if (c.len > short_by) c.len -= short_by;
      }
      break;
    }
    case Op::kPopulate: {
      c.addr = addr(state);
      // To the end of the VMA there (a whole area, or its tail), a size
      // around one of the impl's internal sizes (a TLB's 32 entries, the
      // gather's 128, a PTE table's 512), or any length.
      const std::uint8_t shape = u8();
      const std::optional<Vma> v = state.vma_lookup(c.addr);
      static constexpr std::uint64_t kPages[] = {31, 32, 33, 127, 128, 129, 511, 512, 513};
      if (shape % 4 == 0 && v) {
        c.len = v->end - c.addr;
      } else if (shape % 4 == 1) {
        c.len = kPages[(shape >> 2) % std::size(kPages)] * kPageSize;
      } else {
        c.len = length();
      }
      break;
    }
    case Op::kPutPage: c.slot = u8() % 4; break;
    case Op::kInsertPage:
      c.slot = u8() % 4;
      c.addr = addr(state);
      c.addr2 = page_down(c.addr) + (u8() % 16) * kPageSize;
      break;
    case Op::kWriteback: c.slot = u8() % 2; break;
    default: break;
  }
  return c;
}

}  // namespace mmv::cmd
