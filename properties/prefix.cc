#include "properties/prefix.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "model/describe.h"
#include "properties/gen.h"

namespace mmv::props {
namespace {

using cmd::Command;
using cmd::Op;

constexpr Addr kP = kPageSize;

// Runs a generator at full size: RapidCheck scales inRange with the case's
// size, which would make every small case's seeds and zaps the same.
template <class T, class F>
rc::Gen<T> full_size(F f) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::exec(std::move(f)));
}

std::vector<Vma> vma_list(const model::System& s) {
  std::vector<Vma> out;
  for (const auto& [start, v] : s.vmas()) out.push_back(v);
  return out;
}

Addr clamp(Addr a, Addr lo, Addr hi) { return std::min(std::max(a, lo), hi); }

}  // namespace

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::optional<std::string> step(const Command& c, cmd::ModelRunner& m, cmd::ImplRunner& impl) {
  if (!cmd::precondition(c, impl.holdings())) return std::nullopt;
  (void)m.apply(c);
  return impl.apply(c);
}

std::optional<std::string> step(const Command& c, cmd::ImplRunner& impl) {
  if (!cmd::precondition(c, impl.holdings())) return std::nullopt;
  return impl.apply(c);
}

rc::Gen<Command> gen_touch(const cmd::ModelRunner& m) {
  std::vector<Vma> vmas = vma_list(m.system());
  const std::size_t pages = m.holdings().pages.size();
  if (vmas.empty()) return gen_memory_command(m);
  return full_size<Command>([vmas, pages] {
    const Vma v = *rc::gen::elementOf(vmas);
    Command c;
    const Addr page = v.start + *rc::gen::inRange<std::uint64_t>(0, v.pages()) * kP;
    if (v.flags & flags::kMixedMap) {
      if (pages == 0 || *rc::gen::inRange(0, 4) == 0) {
        c.op = Op::kAllocPage;
      } else {
        c.op = Op::kInsertPage;
        c.slot = *rc::gen::inRange<std::uint32_t>(0, static_cast<std::uint32_t>(pages));
        c.addr = v.start;
        c.addr2 = page;
      }
      return c;
    }
    c.op = *rc::gen::weightedElement<Op>({{3, Op::kWrite}, {1, Op::kRead}});
    c.addr = page + *rc::gen::weightedOneOf<Addr>({{2, rc::gen::element<Addr>(0, 100, kP - 1)},
                                                   {1, rc::gen::inRange<Addr>(0, kP)}});
    c.value = *rc::gen::inRange<std::uint8_t>(1, 255);
    return c;
  });
}

rc::Gen<Command> gen_seed_mmap() {
  return full_size<Command>([] {
    Command c;
    c.op = Op::kMmap;
    MmapRequest& r = c.mmap;
    r.fixed = false;
    r.prot = flags::kRead | flags::kWrite;
    switch (*rc::gen::inRange(0, 5)) {
      case 0:  // private anonymous, first fit
        r.length = *rc::gen::inRange<std::uint64_t>(1, 33) * kP;
        if (*rc::gen::inRange(0, 4) == 0) r.prot = flags::kRead;
        break;
      case 1:  // THP-eligible: 2 MiB aligned hint away from the first fits
        r.addr = cmd::kWindowLo + *rc::gen::inRange<std::uint64_t>(8, 24) * kPmdSize;
        r.length = *rc::gen::inRange<std::uint64_t>(1, 3) * kPmdSize;
        r.advice = flags::kHugePage;
        break;
      case 2:
      case 3: {  // a file, shared or private, inside it (sometimes a page past)
        const auto slot = *rc::gen::inRange<std::uint32_t>(0, std::size(cmd::kFiles));
        const std::uint64_t size = cmd::kFiles[slot].pages;
        r.backing.kind = BackingKind::kFile;
        r.backing.file = slot;
        r.backing.pgoff = *rc::gen::inRange<std::uint64_t>(0, size);
        const std::uint64_t pages = *rc::gen::inRange<std::uint64_t>(1, size - r.backing.pgoff + 1) +
                                    (*rc::gen::inRange(0, 5) == 0 ? 1 : 0);
        r.length = pages * kP;
        r.shared = *rc::gen::arbitrary<bool>();
        break;
      }
      default:  // a driver area for vm_insert_page
        r.backing.kind = BackingKind::kDriver;
        r.shared = true;
        r.setup = {VmaNewOp::kSetMixedMap};
        r.length = *rc::gen::inRange<std::uint64_t>(1, 9) * kP;
        break;
    }
    return c;
  });
}

std::vector<Command> run_prefix(cmd::ModelRunner& m, cmd::ImplRunner& impl,
                                const PrefixOptions& opt) {
  std::vector<Command> ran;
  auto run = [&](const Command& c) {
    if (auto out = step(c, m, impl)) {
      ran.push_back(c);
      if (opt.on_step) opt.on_step(c, *out);
    }
  };
  const int seeds = *rc::gen::resize(rc::kNominalSize, rc::gen::inRange(1, 5));
  const int rest = *rc::gen::inRange(0, std::max(1, opt.max_commands - seeds + 1));
  for (int i = 0; i < seeds; ++i) run(*gen_seed_mmap());
  for (int i = 0; i < rest; ++i) {
    // One drawn value per command, so that a counterexample reads as a list
    // of commands.
    if (opt.gen) {
      run(*opt.gen(m));
    } else {
      run(*rc::gen::weightedOneOf<Command>(
          {{3, opt.lifetime ? gen_command(m) : gen_memory_command(m)}, {1, gen_touch(m)}}));
    }
  }
  // Leave something to aim at, unless the address space is gone.
  for (int i = 0; i < 3 && m.system().vmas().empty() && impl.holdings().users > 0; ++i)
    run(*gen_seed_mmap());
  return ran;
}

void replay(const std::vector<Command>& prefix, cmd::ImplRunner& impl) {
  for (const Command& c : prefix) (void)step(c, impl);
}

rc::Gen<ZapRange> gen_valid_zap(const model::System& s) {
  std::vector<Vma> vmas = vma_list(s);
  std::vector<Addr> leaves;
  for (const auto& [block, leaf] : s.page_table().pmd_leaves) leaves.push_back(block);
  return full_size<ZapRange>([vmas, leaves] {
    Vma v = *rc::gen::elementOf(vmas);
    std::optional<Addr> leaf;
    if (!leaves.empty() && *rc::gen::inRange(0, 2) == 0) {
      leaf = *rc::gen::elementOf(leaves);
      for (const Vma& w : vmas)
        if (w.contains(*leaf)) v = w;
    }
    const std::uint64_t span = v.end - v.start;
    auto point = [&]() -> Addr {
      switch (*rc::gen::inRange(0, leaf ? 5 : 4)) {
        case 0: return v.start + *rc::gen::inRange<std::uint64_t>(0, span / kP + 1) * kP;
        case 1: return v.start + *rc::gen::inRange<std::uint64_t>(0, span + 1);
        case 2: {  // at a 2 MiB boundary in or next to the VMA, give or take a page
          const Addr b = pmd_down(v.start) + *rc::gen::inRange<std::uint64_t>(0, span / kPmdSize + 2) * kPmdSize;
          const Addr off = *rc::gen::element<Addr>(0, kP, 0 - kP, 1);
          return clamp(b + off, v.start, v.end);
        }
        case 3: return *rc::gen::element(v.start, v.end);
        default:  // inside the THP's block, so that it is cut
          return clamp(*leaf + *rc::gen::inRange<std::uint64_t>(0, kPagesPerPmd + 1) * kP +
                           (*rc::gen::inRange(0, 4) == 0 ? *rc::gen::inRange<Addr>(1, kP) : 0),
                       v.start, v.end);
      }
    };
    ZapRange z;
    z.vma_addr = v.start + *rc::gen::inRange<std::uint64_t>(0, v.pages()) * kP;
    switch (*rc::gen::inRange(0, 9)) {
      case 0:  // the whole VMA
        z.address = v.start;
        z.size = span;
        break;
      case 1:  // empty
        z.address = point();
        z.size = 0;
        break;
      case 2:  // from the start
        z.address = v.start;
        z.size = point() - v.start;
        break;
      case 3:  // to the end
        z.address = point();
        z.size = v.end - z.address;
        break;
      default: {
        const Addr a = point();
        Addr b = point();
        if (b == a) b = a == v.end ? v.start : v.end;  // empty ranges have their own case
        z.address = std::min(a, b);
        z.size = std::max(a, b) - z.address;
        break;
      }
    }
    return z;
  });
}

rc::Gen<ZapRange> gen_bad_zap(const model::System& s) {
  std::vector<Vma> vmas = vma_list(s);
  return full_size<ZapRange>([vmas] {
    const Vma v = *rc::gen::elementOf(vmas);
    const std::uint64_t span = v.end - v.start;
    ZapRange z;
    z.vma_addr = v.start + *rc::gen::inRange<std::uint64_t>(0, v.pages()) * kP;
    auto inside = [&] { return v.start + *rc::gen::inRange<std::uint64_t>(0, span + 1); };
    switch (*rc::gen::inRange(0, 4)) {
      case 0: {  // address + size overflows
        z.address = *rc::gen::weightedOneOf<Addr>(
            {{3, rc::gen::exec(inside)}, {1, rc::gen::inRange<Addr>(1, ~Addr{0})}});
        // size = 2^64 - address + k wraps to k < address.
        const Addr k = *rc::gen::weightedOneOf<Addr>(
            {{2, rc::gen::just<Addr>(0)},
             {2, rc::gen::inRange<Addr>(0, std::min<Addr>(z.address, kP))},
             {1, rc::gen::inRange<Addr>(0, z.address)}});
        z.size = (Addr{0} - z.address) + k;
        break;
      }
      case 1: {  // address < start
        const Addr d = *rc::gen::weightedOneOf<Addr>(
            {{2, rc::gen::element<Addr>(1, kP, v.start)},
             {2, rc::gen::inRange<Addr>(1, std::min<Addr>(v.start, kPmdSize) + 1)}});
        z.address = v.start - d;
        z.size = *rc::gen::weightedOneOf<std::uint64_t>(
            {{1, rc::gen::just<std::uint64_t>(0)},
             {2, rc::gen::just(std::uint64_t{d})},  // ends exactly at start
             {2, rc::gen::map(rc::gen::inRange<std::uint64_t>(0, span + 1),
                              [d](std::uint64_t x) { return d + x; })},
             {1, rc::gen::just(std::uint64_t{d + span + kP})}});
        break;
      }
      case 2: {  // address + size > end, from inside
        z.address = inside();
        const std::uint64_t d = *rc::gen::weightedOneOf<std::uint64_t>(
            {{2, rc::gen::element<std::uint64_t>(1, kP, kPmdSize)},
             {2, rc::gen::inRange<std::uint64_t>(1, 2 * kPmdSize)},
             {1, rc::gen::just(std::uint64_t{kTaskSize})}});
        z.size = v.end - z.address + d;
        break;
      }
      default: {  // starting past the end
        z.address = v.end + *rc::gen::weightedOneOf<Addr>(
                                {{2, rc::gen::element<Addr>(1, kP)},
                                 {1, rc::gen::inRange<Addr>(1, kPmdSize)}});
        z.size = *rc::gen::element<std::uint64_t>(0, kP, span);
        break;
      }
    }
    return z;
  });
}

std::ostream& operator<<(std::ostream& os, const ZapRange& z) {
  return os << "zap vma@" << hex(z.vma_addr) << " [" << hex(z.address) << " size " << hex(z.size) << ']';
}

Command zap_command(const ZapRange& z, bool under_vma_lock) {
  Command c;
  c.op = under_vma_lock ? Op::kZapUnderVmaLock : Op::kZap;
  c.addr = z.vma_addr;
  c.addr2 = z.address;
  c.len = z.size;
  return c;
}

PageRange zap_pages(const ZapRange& z) {
  if (z.size == 0) return {};
  return {page_down(z.address), page_down(z.address + z.size - 1) + kP};
}

std::map<Addr, SeenPage> seen_pages(const model::System& s) {
  std::map<Addr, SeenPage> out;
  auto add = [&](Addr a) {
    SeenPage p;
    p.view = *s.page(a);
    p.pmd_mapped = p.view.pmd_mapped;
    p.view.pmd_mapped = false;
    p.bytes = *s.peek(a);
    out.emplace(a, std::move(p));
  };
  for (const auto& [a, pte] : s.page_table().ptes) add(a);
  for (const auto& [block, leaf] : s.page_table().pmd_leaves)
    for (Addr a = block; a < block + kPmdSize; a += kP) add(a);
  return out;
}

std::string diff_except(const model::System& a, const model::System& b,
                        std::initializer_list<std::string_view> ignored,
                        std::initializer_list<std::string_view> ignored_prefixes) {
  auto keep = [&](const std::string& key) {
    for (std::string_view k : ignored)
      if (key == k) return false;
    for (std::string_view p : ignored_prefixes)
      if (key.starts_with(p)) return false;
    return true;
  };
  // Fast path: compare the parts each family of facts is made of, and build
  // the facts (slow: every byte becomes text) only to show a difference.
  auto ignores = [&](std::string_view key) {
    std::string k(key);
    return !keep(k);
  };
  const auto& pa = a.page_table();
  const auto& pb = b.page_table();
  const bool same =
      (ignores("mm") || (a.mm_users() == b.mm_users() && a.mm_count() == b.mm_count() &&
                         a.life() == b.life())) &&
      (ignores("vma ") || a.vmas() == b.vmas()) &&
      (ignores("page ") || pa.ptes == pb.ptes) && (ignores("pmd ") || pa.pmd_leaves == pb.pmd_leaves) &&
      (ignores("folio ") || a.folios() == b.folios()) && (ignores("file ") || a.files() == b.files()) &&
      (ignores("rss") || a.rss() == b.rss()) &&
      (ignores("tables") || a.table_counts() == b.table_counts()) &&
      (ignores("zap_rejections") || a.zap_rejections() == b.zap_rejections()) &&
      (ignores("fail_next_alloc") || a.allocation_failure_armed() == b.allocation_failure_armed()) &&
      (ignores("bug ") || a.bugs() == b.bugs());
  if (same) return "";
  auto fa = model::facts(a), fb = model::facts(b);
  std::erase_if(fa, [&](const auto& kv) { return !keep(kv.first); });
  std::erase_if(fb, [&](const auto& kv) { return !keep(kv.first); });
  std::string out;
  static const std::string kAbsent = "(absent)";
  auto ia = fa.begin();
  auto ib = fb.begin();
  while (ia != fa.end() || ib != fb.end()) {
    if (ib == fb.end() || (ia != fa.end() && ia->first < ib->first)) {
      out += ia->first + ": " + ia->second + " | " + kAbsent + "\n";
      ++ia;
    } else if (ia == fa.end() || ib->first < ia->first) {
      out += ib->first + ": " + kAbsent + " | " + ib->second + "\n";
      ++ib;
    } else {
      if (ia->second != ib->second) out += ia->first + ": " + ia->second + " | " + ib->second + "\n";
      ++ia;
      ++ib;
    }
  }
  // Parts facts() does not print in full (e.g. a VMA's anon_vma) can differ.
  if (out.empty()) out = "(a difference that model::facts() does not show)\n";
  return out;
}

std::map<FolioId, std::uint32_t> mapping_counts(const model::System& s) {
  std::map<FolioId, std::uint32_t> n;
  for (const auto& [a, pte] : s.page_table().ptes)
    if (!pte.zero_page) ++n[pte.folio];
  for (const auto& [block, leaf] : s.page_table().pmd_leaves) ++n[leaf.folio];
  return n;
}

}  // namespace mmv::props
