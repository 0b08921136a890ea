#include "stress/zap_spec.h"

#include <algorithm>

namespace mmv::stress {
namespace {

constexpr std::uint32_t kUnitShift = 20;
constexpr std::uint32_t kOffsetShift = 8;

constexpr std::uint32_t key(std::uint32_t unit, std::uint32_t offset) {
  return unit << kUnitShift | offset << kOffsetShift;
}

// The hash of a state is the sum of one term per byte entry and per mapped
// page (splitmix64 of each), so a step updates it in O(1) per change.
std::size_t term(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return static_cast<std::size_t>(x ^ (x >> 31));
}
std::size_t byte_term(std::uint32_t entry) { return term(entry); }
std::size_t map_term(std::uint64_t page, std::int8_t slot) {
  return slot < 0 ? 0 : term(std::uint64_t{1} << 40 | page << 8 | static_cast<std::uint8_t>(slot));
}
std::size_t access_term(std::uint64_t page, std::uint8_t access) {
  return access == 0 ? 0 : term(std::uint64_t{2} << 40 | page << 8 | access);
}

ZapSpec::Access access_of(VmFlags prot) {
  if (!(prot & flags::kRead)) return ZapSpec::kNone;
  return prot & flags::kWrite ? ZapSpec::kReadWrite : ZapSpec::kReadOnly;
}

}  // namespace

// What a command does to a state: its outcome, and one change to make if
// the outcome is the one recorded.
struct ZapSpec::Effect {
  enum class Change { kNone, kSetByte, kClearUnits, kUnmap, kMap, kAccess };
  std::string outcome;
  Change change = Change::kNone;
  std::uint32_t unit = 0;    // kSetByte
  std::uint32_t offset = 0;  // kSetByte
  std::uint8_t value = 0;    // kSetByte
  std::uint64_t first = 0;   // kClearUnits, kUnmap: first and last page; kMap: the page
  std::uint64_t last = 0;
  std::int8_t slot = -1;     // kMap
  std::uint8_t access = 0;   // kAccess: the pages' new Access
  bool clear = false;        // kAccess: the pages' own copies are gone too (anon, private file)
};

ZapSpec::ZapSpec(const ZapVma& vma, std::vector<PageBytes> file) : vma_(vma) {
  if (vma.kind == ZapKind::kFile || vma.kind == ZapKind::kPrivateFile)
    file_.assign(file.begin() + static_cast<std::ptrdiff_t>(vma.pgoff),
                 file.begin() + static_cast<std::ptrdiff_t>(vma.pgoff + vma.pages));
}

ZapSpec::State ZapSpec::initial() const {
  auto c = std::make_shared<Contents>();
  c->mapped.fill(-1);
  return State{std::move(c), 0};  // no entries, nothing mapped: hash 0
}

std::uint8_t ZapSpec::base(std::uint32_t unit, std::uint32_t offset) const {
  return file_.empty() ? 0 : file_[unit].get(offset);
}

std::uint8_t ZapSpec::byte(const State& s, std::uint32_t unit, std::uint32_t offset) const {
  const std::vector<std::uint32_t>& bytes = s.contents->bytes;
  const std::uint32_t k = key(unit, offset);
  auto it = std::lower_bound(bytes.begin(), bytes.end(), k);
  if (it != bytes.end() && (*it >> kOffsetShift) == (k >> kOffsetShift))
    return static_cast<std::uint8_t>(*it);
  return base(unit, offset);
}

ZapSpec::Effect ZapSpec::effect(const State& s, const Input& in) const {
  using Change = Effect::Change;
  Effect e;
  const bool driver = vma_.kind == ZapKind::kDriver;
  // Anonymous pages and a private file's copies go with their mapping.
  const bool owns_copies = vma_.kind == ZapKind::kAnon || vma_.kind == ZapKind::kPrivateFile;
  const std::array<std::uint8_t, kZapMaxPages>& access = s.contents->access;
  auto no_vma = [&](std::uint64_t page) { return access[page] == kUnmapped; };
  // The pages [first, last] of the range [a, a + len), clipped to the VMA.
  auto pages_of = [&](Addr a, std::uint64_t len) {
    e.first = (a - vma_.start) / kPageSize;
    e.last = (std::min(a + len, vma_.end()) - 1 - vma_.start) / kPageSize;
  };
  switch (in.op) {
    case cmd::Op::kRead:
    case cmd::Op::kWrite: {
      const auto page = static_cast<std::uint32_t>((in.addr - vma_.start) / kPageSize);
      const auto offset = static_cast<std::uint32_t>((in.addr - vma_.start) % kPageSize);
      const std::uint8_t prot = access[page];
      if (prot == kUnmapped || prot == kNone || (in.op == cmd::Op::kWrite && prot == kReadOnly)) {
        e.outcome = "error SIGSEGV";
        return e;
      }
      // A driver VMA has no ->fault: only inserted pages are reachable.
      if (driver && s.contents->mapped[page] < 0) {
        e.outcome = "error SIGBUS";
        return e;
      }
      const std::uint32_t unit = driver ? static_cast<std::uint32_t>(s.contents->mapped[page]) : page;
      if (in.op == cmd::Op::kRead) {
        e.outcome = "ok " + std::to_string(byte(s, unit, offset));
        return e;
      }
      e.outcome = "ok";
      e.change = Change::kSetByte;
      e.unit = unit;
      e.offset = offset;
      e.value = in.value;
      return e;
    }
    case cmd::Op::kZap:
    case cmd::Op::kZapUnderVmaLock: {
      // The Rust wrapper's bounds check: out of bounds is a silent no-op.
      // A VMA that is not there (its range unmapped, and not yet mapped
      // again) is the caller's misuse; a range that is only partly mapped
      // reaches beyond the VMA named.
      if (no_vma((in.addr - vma_.start) / kPageSize)) {
        e.outcome = "error NO_VMA";
        return e;
      }
      if (in.addr2 + in.len < in.addr2 || in.addr2 < vma_.start || in.addr2 + in.len > vma_.end()) {
        e.outcome = "rejected";
        return e;
      }
      if (in.len == 0) {
        e.outcome = "zapped";
        return e;
      }
      pages_of(in.addr2, in.len);
      for (std::uint64_t p = e.first; p <= e.last; ++p) {
        if (no_vma(p)) {
          e.outcome = "rejected";
          return e;
        }
      }
      e.outcome = "zapped";
      // Anonymous pages are gone; file pages stay in the page cache (what
      // was written reaches the disk); driver pages stay with their owner.
      e.change = owns_copies ? Change::kClearUnits : driver ? Change::kUnmap : Change::kNone;
      return e;
    }
    // The VMA's own range, or a page of it (page_pieces); not on a driver
    // VMA, whose pages an mmap alone does not bring back.
    case cmd::Op::kMprotect: {
      if (driver || in.len == 0) break;
      // The kernel's loop: VMA by VMA from the start, until a hole, which
      // makes it ENOMEM with the pages before it changed.
      pages_of(in.addr, in.len);
      e.outcome = "ok";
      for (std::uint64_t p = e.first; p <= e.last; ++p) {
        if (no_vma(p)) {
          e.outcome = "error ENOMEM";
          if (p == e.first) return e;
          e.last = p - 1;
          break;
        }
      }
      e.change = Change::kAccess;
      e.access = access_of(in.prot);
      return e;
    }
    case cmd::Op::kMunmap:
      if (driver || in.len == 0) break;
      pages_of(in.addr, in.len);
      e.outcome = "ok";
      e.change = Change::kAccess;
      e.access = kUnmapped;
      e.clear = owns_copies;
      return e;
    case cmd::Op::kMmap: {
      const MmapRequest& m = in.mmap;
      const bool file = vma_.kind == ZapKind::kFile || vma_.kind == ZapKind::kPrivateFile;
      const bool own_backing =
          m.fixed && m.length > 0 && m.shared == (vma_.kind == ZapKind::kFile) &&
          m.backing.kind == (file ? BackingKind::kFile : BackingKind::kAnon) &&
          (!file || (m.backing.file == 0 && m.backing.pgoff == vma_.pgoff + (m.addr - vma_.start) / kPageSize));
      if (driver || !own_backing) break;
      pages_of(m.addr, m.length);
      for (std::uint64_t p = e.first; p <= e.last; ++p) {
        if (access[p] != kUnmapped) {
          e.outcome = "error EEXIST";
          return e;
        }
      }
      e.outcome = cmd::outcome(Result<Addr>(m.addr));
      e.change = Change::kAccess;
      e.access = access_of(m.prot);
      e.clear = owns_copies;
      return e;
    }
    case cmd::Op::kInsertPage: {
      if (!driver) {
        e.outcome = "error NO_VMA";
        return e;
      }
      if (in.addr2 < vma_.start || in.addr2 >= vma_.end()) {
        e.outcome = "error EFAULT";
        return e;
      }
      e.first = (in.addr2 - vma_.start) / kPageSize;
      if (s.contents->mapped[e.first] >= 0) {
        e.outcome = "error EBUSY";
        return e;
      }
      e.outcome = "ok";
      e.change = Change::kMap;
      e.slot = static_cast<std::int8_t>(in.slot);
      return e;
    }
    default: break;
  }
  // Never the answer of a real run: the history is rejected, and run_zap
  // re-checks it with the reference model.
  e.outcome = "unmodelled command " + cmd::to_string(in);
  return e;
}

std::string ZapSpec::outcome(const State& s, const Input& in) const { return effect(s, in).outcome; }

std::optional<ZapSpec::State> ZapSpec::step(const State& s, const Input& in, const Output* out) const {
  using Change = Effect::Change;
  const Effect e = effect(s, in);
  if (out && e.outcome != *out) return std::nullopt;
  if (e.change == Change::kNone) return s;
  auto c = std::make_shared<Contents>(*s.contents);
  std::size_t hash = s.hash;
  std::vector<std::uint32_t>& bytes = c->bytes;
  // Drops the bytes of units (pages) e.first to e.last.
  auto clear_units = [&] {
    auto from = std::lower_bound(bytes.begin(), bytes.end(), key(static_cast<std::uint32_t>(e.first), 0));
    auto to = std::lower_bound(from, bytes.end(), key(static_cast<std::uint32_t>(e.last + 1), 0));
    for (auto it = from; it != to; ++it) hash -= byte_term(*it);
    bytes.erase(from, to);
  };
  switch (e.change) {
    case Change::kNone: break;
    case Change::kSetByte: {
      const std::uint32_t k = key(e.unit, e.offset);
      auto it = std::lower_bound(bytes.begin(), bytes.end(), k);
      if (it != bytes.end() && (*it >> kOffsetShift) == (k >> kOffsetShift)) {
        hash -= byte_term(*it);
        it = bytes.erase(it);
      }
      if (e.value != base(e.unit, e.offset)) {
        bytes.insert(it, k | e.value);
        hash += byte_term(k | e.value);
      }
      break;
    }
    case Change::kClearUnits: clear_units(); break;
    case Change::kUnmap:
      for (std::uint64_t p = e.first; p <= e.last; ++p) {
        hash -= map_term(p, c->mapped[p]);
        c->mapped[p] = -1;
      }
      break;
    case Change::kMap:
      c->mapped[e.first] = e.slot;
      hash += map_term(e.first, e.slot);
      break;
    case Change::kAccess:
      for (std::uint64_t p = e.first; p <= e.last; ++p) {
        hash += access_term(p, e.access) - access_term(p, c->access[p]);
        c->access[p] = e.access;
      }
      if (e.clear) clear_units();
      break;
  }
  return State{std::move(c), hash};
}

std::size_t ZapSpec::rehash(const State& s) {
  std::size_t h = 0;
  for (std::uint64_t p = 0; p < s.contents->mapped.size(); ++p)
    h += map_term(p, s.contents->mapped[p]) + access_term(p, s.contents->access[p]);
  for (std::uint32_t b : s.contents->bytes) h += byte_term(b);
  return h;
}

PageBytes ZapSpec::file_page(const State& s, std::uint64_t i) const {
  PageBytes p = file_.at(i);
  const auto unit = static_cast<std::uint32_t>(i);
  const std::vector<std::uint32_t>& bytes = s.contents->bytes;
  auto it = std::lower_bound(bytes.begin(), bytes.end(), key(unit, 0));
  for (; it != bytes.end() && (*it >> kUnitShift) == unit; ++it)
    p.set((*it >> kOffsetShift) & (kPageSize - 1), static_cast<std::uint8_t>(*it));
  return p;
}

}  // namespace mmv::stress
