#include "model/oracle/oracle_op.h"

#include <sys/mman.h>

#include <ios>
#include <sstream>
#include <optional>
#include <type_traits>

#include "testing/line_file.h"

namespace mmv::oracle {
namespace {

// "B+0x3000": an address relative to the scratch base.
struct Rel {
  std::uint32_t page;
  std::uint32_t misalign;
};
std::ostream& operator<<(std::ostream& os, Rel r) {
  return os << "B+0x" << std::hex
            << (std::uint64_t{r.page} * kPageSize + r.misalign) << std::dec;
}
// An access address: "B+0x3004" or "vma #1 page +3 byte 0x4".
struct Where {
  bool in_vma;
  std::uint32_t vma;
  std::uint32_t page;
  std::uint32_t offset;
};
std::ostream& operator<<(std::ostream& os, Where w) {
  if (!w.in_vma) return os << Rel{w.page, w.offset};
  return os << "vma #" << w.vma << " page +" << w.page << " byte 0x" << std::hex
            << w.offset << std::dec;
}

struct Len {
  std::uint64_t bytes;
};
std::ostream& operator<<(std::ostream& os, Len l) {
  return os << "0x" << std::hex << l.bytes << std::dec;
}

const char* kind_name(MapKind k) {
  switch (k) {
    case MapKind::kAnonPrivate: return "anon private";
    case MapKind::kFileShared: return "shared";
    case MapKind::kFilePrivate: return "private";
  }
  return "?";
}

}  // namespace

const char* prot_name(Prot p) {
  switch (p) {
    case Prot::kNone: return "NONE";
    case Prot::kRead: return "R";
    case Prot::kReadWrite: return "RW";
  }
  return "?";
}

int prot_bits(Prot p) {
  switch (p) {
    case Prot::kNone: return PROT_NONE;
    case Prot::kRead: return PROT_READ;
    case Prot::kReadWrite: return PROT_READ | PROT_WRITE;
  }
  return PROT_NONE;
}

std::ostream& operator<<(std::ostream& os, const OracleOp& op) {
  std::visit(
      [&os](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, OpMmap>) {
          os << "mmap(";
          if (o.fixed) {
            os << Rel{o.page, o.misalign};
          } else if (o.hint) {
            os << "hint " << Rel{o.page, o.misalign};
          } else {
            os << "0";
          }
          os << ", len " << Len{o.length} << ", " << prot_name(o.prot) << ", ";
          if (o.kind == MapKind::kAnonPrivate) {
            os << kind_name(o.kind);
          } else {
            os << "file" << o.file << " " << kind_name(o.kind) << " pgoff "
               << o.pgoff;
          }
          os << (o.fixed ? ", FIXED_NOREPLACE)" : ", first fit)");
        } else if constexpr (std::is_same_v<T, OpMunmap>) {
          os << "munmap(" << Rel{o.page, o.misalign} << ", len "
             << Len{o.length} << ")";
        } else if constexpr (std::is_same_v<T, OpMprotect>) {
          os << "mprotect(" << Rel{o.page, o.misalign} << ", len "
             << Len{o.length} << ", " << prot_name(o.prot) << ")";
        } else if constexpr (std::is_same_v<T, OpRead>) {
          os << "read(" << Where{o.in_vma, o.vma, o.page, o.offset} << ")";
        } else if constexpr (std::is_same_v<T, OpWrite>) {
          os << "write(" << Where{o.in_vma, o.vma, o.page, o.offset} << ", 0x"
             << std::hex << unsigned{o.value} << std::dec << ")";
        } else if constexpr (std::is_same_v<T, OpZap>) {
          os << "zap(vma #" << o.vma << ", page +" << o.first << ", "
             << o.count << " pages)";
        } else {
          os << "populate(" << Rel{o.page, o.misalign} << ", len "
             << Len{o.length} << ")";
        }
      },
      op.op);
  return os;
}

std::ostream& operator<<(std::ostream& os, const OpSequence& seq) {
  os << seq.ops.size() << " ops (B = scratch base):";
  for (std::size_t i = 0; i < seq.ops.size(); ++i) {
    os << "\n  #" << i << " " << seq.ops[i];
  }
  return os;
}

namespace {

// The words of one printed op: punctuation "()," is spacing.
using OpWords = testing::LineWords;
OpWords op_words(std::string_view line) { return OpWords(line, " \t(),"); }

Prot parse_prot(OpWords& w) {
  const std::string word = w.word("a protection (NONE, R or RW)");
  for (Prot p : {Prot::kNone, Prot::kRead, Prot::kReadWrite})
    if (word == prot_name(p)) return p;
  w.fail("expected a protection (NONE, R or RW), got '" + word + "'");
  return Prot::kNone;
}

// "B+0x3004": page 3, 4 bytes in.
void rel(OpWords& w, const char* what, std::uint32_t* page, std::uint32_t* bytes) {
  const std::uint64_t v = w.number(what, "B+");
  *page = static_cast<std::uint32_t>(v / kPageSize);
  *bytes = static_cast<std::uint32_t>(v % kPageSize);
}

// "B+0x3000, len 0x2000": a range of munmap, mprotect or populate.
void range(OpWords& w, std::uint32_t* page, std::uint32_t* misalign, std::uint64_t* length) {
  rel(w, "the address (B+0x...)", page, misalign);
  w.keyword("len");
  *length = w.number("the length");
}

// "B+0x3004" or "vma #1 page +3 byte 0x4".
void where(OpWords& w, bool* in_vma, std::uint32_t* vma, std::uint32_t* page, std::uint32_t* offset) {
  *in_vma = w.peek() == "vma";
  if (!*in_vma) return rel(w, "an address (B+0x...)", page, offset);
  w.keyword("vma");
  *vma = static_cast<std::uint32_t>(w.number("a VMA number (#N)", "#"));
  w.keyword("page");
  *page = static_cast<std::uint32_t>(w.number("a page (+N)", "+"));
  w.keyword("byte");
  *offset = static_cast<std::uint32_t>(w.number("a byte offset"));
}

}  // namespace

std::optional<OracleOp> parse_oracle_op(std::string_view line, std::string* error) {
  OpWords w = op_words(line);
  const std::string name = w.word("an op");
  OracleOp op;
  if (name == "mmap") {
    OpMmap o;
    if (w.peek() == "0") {
      w.word("0");
      o.fixed = false;
    } else {
      o.hint = w.peek() == "hint";
      if (o.hint) w.word("hint");
      rel(w, "the address (B+0x...)", &o.page, &o.misalign);
    }
    w.keyword("len");
    o.length = w.number("the length");
    o.prot = parse_prot(w);
    const std::string backing = w.word("anon or fileN");
    if (backing == "anon") {
      w.keyword("private");
      o.kind = MapKind::kAnonPrivate;
    } else if (backing.rfind("file", 0) == 0 && backing.size() == 5 && backing[4] >= '0' &&
               backing[4] < '0' + kNumFiles) {
      o.file = static_cast<std::uint32_t>(backing[4] - '0');
      const std::string sharing = w.word("shared or private");
      if (sharing == "shared") o.kind = MapKind::kFileShared;
      else if (sharing == "private") o.kind = MapKind::kFilePrivate;
      else w.fail("expected shared or private, got '" + sharing + "'");
      w.keyword("pgoff");
      o.pgoff = static_cast<std::uint32_t>(w.number("the page offset"));
    } else if (w.ok()) {
      w.fail("expected anon or file0/file1, got '" + backing + "'");
    }
    const std::string placement = w.word("FIXED_NOREPLACE or first fit");
    if (placement == "FIXED_NOREPLACE") {
      if (o.hint || !o.fixed) w.fail("FIXED_NOREPLACE needs a plain address");
    } else if (placement == "first") {
      w.keyword("fit");
      if (o.fixed && !o.hint) w.fail("a first-fit mmap prints its address as 0 or hint B+0x...");
      o.fixed = false;
    } else if (w.ok()) {
      w.fail("expected FIXED_NOREPLACE or first fit, got '" + placement + "'");
    }
    op.op = o;
  } else if (name == "munmap") {
    OpMunmap o;
    range(w, &o.page, &o.misalign, &o.length);
    op.op = o;
  } else if (name == "populate") {
    OpPopulate o;
    range(w, &o.page, &o.misalign, &o.length);
    op.op = o;
  } else if (name == "mprotect") {
    OpMprotect o;
    range(w, &o.page, &o.misalign, &o.length);
    o.prot = parse_prot(w);
    op.op = o;
  } else if (name == "read") {
    OpRead o;
    where(w, &o.in_vma, &o.vma, &o.page, &o.offset);
    op.op = o;
  } else if (name == "write") {
    OpWrite o;
    where(w, &o.in_vma, &o.vma, &o.page, &o.offset);
    const std::uint64_t v = w.number("the value");
    if (v > 255) w.fail("the value " + std::to_string(v) + " is not a byte");
    o.value = static_cast<std::uint8_t>(v);
    op.op = o;
  } else if (name == "zap") {
    OpZap o;
    w.keyword("vma");
    o.vma = static_cast<std::uint32_t>(w.number("a VMA number (#N)", "#"));
    w.keyword("page");
    o.first = static_cast<std::uint32_t>(w.number("a page (+N)", "+"));
    o.count = static_cast<std::uint32_t>(w.number("a page count"));
    w.keyword("pages");
    op.op = o;
  } else {
    *error = "unknown op '" + name + "'";
    return std::nullopt;
  }
  if (!w.finish(name, "the op", error)) return std::nullopt;
  return op;
}

std::optional<OracleFile> parse_oracle_file(std::string_view text, std::string* error) {
  const testing::LineFile lines = testing::split_line_file(text);
  auto ops = testing::parse_lines<OracleOp>(lines, parse_oracle_op, error);
  if (!ops) return std::nullopt;
  return OracleFile{lines.header, OpSequence{std::move(*ops)}};
}

std::string oracle_regression_file(const OpSequence& seq, const std::string& report) {
  const auto dash = report.find("\n    - ");
  const std::string caught = dash == std::string::npos
                                 ? report.substr(0, report.find('\n'))
                                 : report.substr(dash + 7, report.find('\n', dash + 1) - dash - 7);
  return format_oracle_file({{"kind", "oracle"}, {"caught", caught}}, seq);
}

std::string format_oracle_file(const std::vector<std::pair<std::string, std::string>>& header,
                               const OpSequence& seq) {
  std::ostringstream os;
  for (const auto& [k, v] : header) os << "# " << k << ": " << v << "\n";
  for (const OracleOp& op : seq.ops) os << op << "\n";
  return os.str();
}

namespace {

namespace gen = rc::gen;

template <class T>
rc::Gen<T> small(T lo, T hi) {  // [lo, hi)
  return gen::inRange<T>(lo, hi);
}

// Mostly page-aligned addresses; sometimes a byte offset (EINVAL paths).
rc::Gen<std::uint32_t> gen_misalign() {
  return gen::weightedOneOf<std::uint32_t>({
      {12, gen::just<std::uint32_t>(0)},
      {1, small<std::uint32_t>(1, kPageSize)},
  });
}

// Lengths in bytes: mostly whole pages, sometimes 0 or a ragged tail.
rc::Gen<std::uint64_t> gen_length() {
  return gen::weightedOneOf<std::uint64_t>({
      {14, gen::map(small<std::uint64_t>(1, 17),
                    [](std::uint64_t p) { return p * kPageSize; })},
      {2, gen::map(small<std::uint64_t>(1, kMaxLenPages + 1),
                   [](std::uint64_t p) { return p * kPageSize; })},
      {2, gen::map(gen::pair(small<std::uint64_t>(0, 16),
                             small<std::uint64_t>(1, kPageSize)),
                   [](std::pair<std::uint64_t, std::uint64_t> p) {
                     return p.first * kPageSize + p.second;
                   })},
      {1, gen::just<std::uint64_t>(0)},
  });
}

rc::Gen<Prot> gen_prot() {
  return gen::weightedElement<Prot>(
      {{1, Prot::kNone}, {2, Prot::kRead}, {4, Prot::kReadWrite}});
}

rc::Gen<std::uint32_t> gen_region_page() {
  return small<std::uint32_t>(0, kRegionPages);
}

// Pages an access may touch: mostly the region, sometimes the tail of the
// span that only long fixed mappings reach.
rc::Gen<std::uint32_t> gen_access_page() {
  return gen::weightedOneOf<std::uint32_t>({
      {8, gen_region_page()},
      {1, small<std::uint32_t>(kRegionPages, kSpanPages)},
  });
}

// Byte offsets inside a page: the ones the files' patterns use (see
// kernel_oracle_test.cc), so reads see file data, plus any offset.
rc::Gen<std::uint32_t> gen_offset() {
  return gen::weightedOneOf<std::uint32_t>({
      {3, gen::element<std::uint32_t>(0, 1, 2048, 4095)},
      {1, small<std::uint32_t>(0, kPageSize)},
  });
}

rc::Gen<bool> gen_in_vma() {
  return gen::weightedElement<bool>({{3, true}, {1, false}});
}

rc::Gen<std::uint32_t> gen_vma_index() { return small<std::uint32_t>(0, 8); }

rc::Gen<OpMmap> gen_mmap() {
  return gen::build<OpMmap>(
      gen::set(&OpMmap::kind,
               gen::element(MapKind::kAnonPrivate, MapKind::kFileShared,
                            MapKind::kFilePrivate)),
      gen::set(&OpMmap::file, small<std::uint32_t>(0, kNumFiles)),
      // Past kFilePages: mappings that start or extend past end of file.
      gen::set(&OpMmap::pgoff,
               gen::weightedOneOf<std::uint32_t>({
                   {6, small<std::uint32_t>(0, kFilePages)},
                   {1, small<std::uint32_t>(kFilePages, kFilePages + 4)},
               })),
      gen::set(&OpMmap::fixed, gen::weightedElement<bool>({{3, true}, {2, false}})),
      gen::set(&OpMmap::hint, gen::arbitrary<bool>()),
      gen::set(&OpMmap::page, gen_region_page()),
      gen::set(&OpMmap::misalign, gen_misalign()),
      gen::set(&OpMmap::length, gen_length()),
      gen::set(&OpMmap::prot, gen_prot()));
}

}  // namespace

rc::Gen<OracleOp> gen_op() {
  auto wrap = [](auto g) {
    return gen::map(std::move(g), [](auto o) { return OracleOp{o}; });
  };
  return gen::weightedOneOf<OracleOp>({
      {6, wrap(gen_mmap())},
      {2, wrap(gen::build<OpMunmap>(
              gen::set(&OpMunmap::page, gen_region_page()),
              gen::set(&OpMunmap::misalign, gen_misalign()),
              gen::set(&OpMunmap::length, gen_length())))},
      {3, wrap(gen::build<OpMprotect>(
              gen::set(&OpMprotect::page, gen_region_page()),
              gen::set(&OpMprotect::misalign, gen_misalign()),
              gen::set(&OpMprotect::length, gen_length()),
              gen::set(&OpMprotect::prot, gen_prot())))},
      {5, wrap(gen::build<OpRead>(gen::set(&OpRead::in_vma, gen_in_vma()),
                                  gen::set(&OpRead::vma, gen_vma_index()),
                                  gen::set(&OpRead::page, gen_access_page()),
                                  gen::set(&OpRead::offset, gen_offset())))},
      {5, wrap(gen::build<OpWrite>(
              gen::set(&OpWrite::in_vma, gen_in_vma()),
              gen::set(&OpWrite::vma, gen_vma_index()),
              gen::set(&OpWrite::page, gen_access_page()),
              gen::set(&OpWrite::offset, gen_offset()),
              gen::set(&OpWrite::value, gen::arbitrary<std::uint8_t>())))},
      {3, wrap(gen::build<OpZap>(
              gen::set(&OpZap::vma, gen_vma_index()),
              gen::set(&OpZap::first, small<std::uint32_t>(0, 16)),
              gen::set(&OpZap::count,
                       gen::weightedOneOf<std::uint32_t>({
                           {6, small<std::uint32_t>(1, 8)},
                           {1, small<std::uint32_t>(0, kMaxLenPages + 1)},
                       }))))},
      {3, wrap(gen::build<OpPopulate>(
              gen::set(&OpPopulate::page, gen_region_page()),
              gen::set(&OpPopulate::misalign, gen_misalign()),
              gen::set(&OpPopulate::length, gen_length())))},
  });
}

namespace {

// The end-of-file edge of fault-around (model/fault.cc, fault_around): a
// fixed file mapping whose page k (k >= 1) is the first past EOF, with page
// k - 1 in the same 16-page window, and a read of page k. Met by chance about
// once in 500 sequences; placed at a random point of one sequence in four,
// it meets the window both before any fault made a PTE table (first) and
// after (later), as OracleTotals counts and the oracle test checks.
rc::Gen<std::vector<OracleOp>> gen_eof_probe() {
  return gen::apply(
      [](MapKind kind, std::uint32_t file, std::uint32_t pages, std::uint32_t k, std::uint32_t page, Prot prot,
         std::uint32_t offset) {
        k = 1 + k % (pages - 1);
        if ((page + k) % 16 == 0) ++page;
        OpMmap m;
        m.kind = kind;
        m.file = file;
        m.pgoff = static_cast<std::uint32_t>(kFilePages) - k;
        m.fixed = true;
        m.page = page;
        m.length = std::uint64_t{pages} * kPageSize;
        m.prot = prot;
        return std::vector<OracleOp>{OracleOp{m}, OracleOp{OpRead{false, 0, page + k, offset}}};
      },
      gen::element(MapKind::kFileShared, MapKind::kFilePrivate), small<std::uint32_t>(0, kNumFiles),
      small<std::uint32_t>(2, 9), small<std::uint32_t>(0, 8), gen_region_page(),
      gen::element(Prot::kRead, Prot::kReadWrite), gen_offset());
}

}  // namespace

rc::Gen<OpSequence> gen_sequence() {
  using Probe = std::optional<std::vector<OracleOp>>;
  return gen::apply(
      [](std::vector<OracleOp> ops, Probe probe, std::uint32_t at) {
        if (probe) ops.insert(ops.begin() + at % (ops.size() + 1), probe->begin(), probe->end());
        return OpSequence{std::move(ops)};
      },
      gen::container<std::vector<OracleOp>>(gen_op()),
      gen::weightedOneOf<Probe>({{3, gen::just(Probe())},
                                 {1, gen::map(gen_eof_probe(), [](std::vector<OracleOp> v) { return Probe(v); })}}),
      gen::arbitrary<std::uint32_t>());
}

}  // namespace mmv::oracle
