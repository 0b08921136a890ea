#include "stress/zap_workload.h"

#include <algorithm>

#include "model/result.h"

namespace mmv::stress {
namespace {
constexpr Addr kP = kPageSize;
}  // namespace

std::uint32_t own_offset(int t, std::mt19937_64& rng) {
  return 200 + static_cast<std::uint32_t>(t % 100) * 32 + static_cast<std::uint32_t>(rng() % 32);
}

cmd::Command map_command(const ZapVma& v) {
  cmd::Command c;
  c.op = cmd::Op::kMmap;
  c.mmap.addr = v.start;
  c.mmap.length = v.pages * kP;
  c.mmap.fixed = true;
  c.mmap.prot = flags::kRead | flags::kWrite;
  switch (v.kind) {
    case ZapKind::kAnon: break;
    case ZapKind::kFile:
    case ZapKind::kPrivateFile:
      c.mmap.shared = v.kind == ZapKind::kFile;
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
  return c;
}

std::vector<cmd::Command> zap_setup() {
  std::vector<cmd::Command> pre;
  for (const ZapVma& v : kZapVmas) pre.push_back(map_command(v));
  for (std::uint32_t i = 0; i < kZapDriverSlots; ++i) {
    cmd::Command c;
    c.op = cmd::Op::kAllocPage;
    pre.push_back(c);
  }
  return pre;
}

std::vector<cmd::Command> remap_commands(const ZapVma& v, std::mt19937_64& rng) {
  // Few offsets, so that reads often see what writes stored; 0, 100 and
  // the last byte are the file's marked bytes (testing/marked_pages.h).
  constexpr Addr kOffsets[] = {0, 1, 100, 2048, kP - 1};
  const Addr page = v.start + (rng() % v.pages) * kP;
  cmd::Command c;
  c.addr = v.start;
  const unsigned dice = rng() % 100;
  if (dice < 34) {
    c.op = cmd::Op::kRead;
    c.addr = page + kOffsets[rng() % std::size(kOffsets)];
  } else if (dice < 60) {
    c.op = cmd::Op::kWrite;
    c.addr = page + kOffsets[rng() % std::size(kOffsets)];
    c.value = static_cast<std::uint8_t>(1 + rng() % 255);
  } else if (dice < 80) {
    c.op = cmd::Op::kZap;
    c.addr = c.addr2 = page;
    c.len = (1 + rng() % ((v.end() - page) / kP)) * kP;
  } else if (dice < 90) {
    c.op = cmd::Op::kMprotect;
    c.len = v.pages * kP;
    const unsigned p = rng() % 5;  // a downgrade three times in five
    c.prot = p < 2 ? flags::kRead | flags::kWrite : p < 4 ? flags::kRead : 0;
  } else {
    c.op = cmd::Op::kMunmap;
    c.len = v.pages * kP;
    return {c, map_command(v)};
  }
  return {c};
}

const char* zap_kind_name(ZapKind k) {
  switch (k) {
    case ZapKind::kAnon: return "anonymous";
    case ZapKind::kFile: return "shared file";
    case ZapKind::kPrivateFile: return "private file";
    case ZapKind::kDriver: return "driver";
  }
  return "?";
}

int zap_vma_of(const cmd::Command& c) { return vma_index(kZapVmas, c); }

std::vector<std::pair<cmd::Command, std::string>> page_pieces(const cmd::Command& c, const std::string& outcome) {
  Addr start = c.addr2, len = c.len;
  bool splits = false;
  switch (c.op) {
    case cmd::Op::kZap:
    case cmd::Op::kZapUnderVmaLock: splits = outcome == "zapped"; break;
    case cmd::Op::kMprotect:
    case cmd::Op::kMunmap:
      start = c.addr;
      splits = outcome == "ok";
      break;
    case cmd::Op::kMmap:
      start = c.mmap.addr;
      len = c.mmap.length;
      splits = c.mmap.fixed && outcome == cmd::outcome(Result<Addr>(c.mmap.addr));
      break;
    default: break;
  }
  if (!splits || len <= kP - start % kP) return {{c, outcome}};
  std::vector<std::pair<cmd::Command, std::string>> out;
  const Addr end = start + len;  // no overflow: the command did its work on the range
  for (Addr a = start; a < end;) {
    const Addr next = std::min(end, (a / kP + 1) * kP);
    cmd::Command piece = c;
    std::string piece_outcome = outcome;
    switch (c.op) {
      case cmd::Op::kMmap:
        piece.mmap.addr = a;
        piece.mmap.length = next - a;
        piece.mmap.backing.pgoff += (a - start) / kP;
        piece_outcome = cmd::outcome(Result<Addr>(a));
        break;
      case cmd::Op::kMprotect:
      case cmd::Op::kMunmap:
        piece.addr = a;
        piece.len = next - a;
        break;
      default:  // a zap; each piece names its own page's VMA, the zap's
        piece.addr = a;
        piece.addr2 = a;
        piece.len = next - a;
        break;
    }
    out.emplace_back(std::move(piece), std::move(piece_outcome));
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
