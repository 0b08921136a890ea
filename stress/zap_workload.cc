#include "stress/zap_workload.h"

#include <algorithm>

namespace mmv::stress {
namespace {
constexpr Addr kP = kPageSize;
}  // namespace

std::uint32_t own_offset(int t, std::mt19937_64& rng) {
  return 200 + static_cast<std::uint32_t>(t % 100) * 32 + static_cast<std::uint32_t>(rng() % 32);
}

std::vector<cmd::Command> zap_setup() {
  std::vector<cmd::Command> pre;
  for (const ZapVma& v : kZapVmas) {
    cmd::Command c;
    c.op = cmd::Op::kMmap;
    c.mmap.addr = v.start;
    c.mmap.length = v.pages * kP;
    c.mmap.fixed = true;
    c.mmap.prot = flags::kRead | flags::kWrite;
    switch (v.kind) {
      case ZapKind::kAnon: break;
      case ZapKind::kFile:
        c.mmap.shared = true;
        c.mmap.backing.kind = BackingKind::kFile;
        c.mmap.backing.file = 0;  // file slot
        c.mmap.backing.pgoff = v.pgoff;
        break;
      case ZapKind::kDriver:
        c.mmap.shared = true;
        c.mmap.backing.kind = BackingKind::kDriver;
        c.mmap.setup = {VmaNewOp::kSetMixedMap};
        break;
    }
    pre.push_back(c);
  }
  for (std::uint32_t i = 0; i < kZapDriverSlots; ++i) {
    cmd::Command c;
    c.op = cmd::Op::kAllocPage;
    pre.push_back(c);
  }
  return pre;
}

int zap_vma_of(const cmd::Command& c) {
  for (int i = 0; i < kNumZapVmas; ++i)
    if (c.addr >= kZapVmas[i].start && c.addr < kZapVmas[i].end()) return i;
  return -1;
}

std::vector<cmd::Command> zap_pieces(const cmd::Command& zap, const std::string& outcome) {
  const bool is_zap = zap.op == cmd::Op::kZap || zap.op == cmd::Op::kZapUnderVmaLock;
  if (!is_zap || outcome != "zapped" || zap.len == 0) return {zap};
  std::vector<cmd::Command> out;
  const Addr end = zap.addr2 + zap.len;  // no overflow: a zapped range is inside its VMA
  for (Addr a = zap.addr2; a < end;) {
    const Addr next = std::min(end, (a / kP + 1) * kP);
    cmd::Command piece = zap;
    piece.addr2 = a;
    piece.len = next - a;
    out.push_back(piece);
    a = next;
  }
  return out;
}

cmd::Command zap_command(int t, std::mt19937_64& rng) {
  const int vi = static_cast<int>(rng() % kNumZapVmas);
  const ZapVma& v = kZapVmas[vi];
  const Addr page = v.start + (rng() % v.pages) * kP;
  cmd::Command c;
  c.addr = v.start;
  c.cpu = static_cast<std::uint8_t>(t % cmd::kCpus);  // each thread is a CPU, with its own TLB
  const unsigned dice = rng() % 100;
  if (dice < 30) {
    c.op = cmd::Op::kRead;
    c.addr = page + (rng() % 2 ? own_offset(static_cast<int>(rng() % 4), rng) : rng() % kP);
  } else if (dice < 60) {
    c.op = cmd::Op::kWrite;
    c.addr = page + (v.kind == ZapKind::kAnon ? rng() % kP : own_offset(t, rng));
    c.value = static_cast<std::uint8_t>(1 + rng() % 255);
  } else if (dice < 85 || v.kind != ZapKind::kDriver) {
    c.op = rng() % 2 ? cmd::Op::kZap : cmd::Op::kZapUnderVmaLock;
    const std::uint64_t first = rng() % v.pages;
    const std::uint64_t n = 1 + rng() % 3;
    c.addr2 = v.start + first * kP;
    // Sometimes past the end: a rejected zap.
    c.len = (rng() % 10 == 0) ? (v.pages - first + 1) * kP : std::min(n, v.pages - first) * kP;
    if (rng() % 8 == 0) c.len -= kP / 2;  // a partial last page
  } else {
    c.op = cmd::Op::kInsertPage;
    c.addr2 = page;
    // Each driver VMA inserts its own pages, so the parts of the history
    // stay independent.
    c.slot = v.first_slot + static_cast<std::uint32_t>(rng() % 2);
  }
  return c;
}

}  // namespace mmv::stress
