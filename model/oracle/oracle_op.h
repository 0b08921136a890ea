// OracleOp: one step of a kernel-oracle sequence, as plain data.
//
// Ops name addresses relative to the scratch base (page index + byte
// misalignment), never absolute addresses, and a zap names "the n-th VMA"
// rather than an address: every op is meaningful in any state, so RapidCheck
// can drop or shrink ops freely and each shrunk sequence still replays.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <rapidcheck.h>

#include "model/addr.h"

namespace mmv::oracle {

// Geometry of the scratch region, in pages from its base. Generated
// addresses start in [0, kRegionPages); lengths reach at most kMaxLenPages,
// so everything an op can touch lies in the observed span [0, kSpanPages).
inline constexpr std::uint64_t kRegionPages = 64;
inline constexpr std::uint64_t kMaxLenPages = 32;
inline constexpr std::uint64_t kSpanPages = kRegionPages + kMaxLenPages;
inline constexpr int kNumFiles = 2;
inline constexpr std::uint64_t kFilePages = 12;

enum class MapKind : std::uint8_t { kAnonPrivate, kFileShared, kFilePrivate };

// Only these three protections are generated. process_vm_readv/writev go
// through GUP, which refuses to read a VMA without VM_READ even where a CPU
// load would succeed (x86 makes PROT_WRITE-only and PROT_EXEC-only pages
// readable), so PROT_WRITE without PROT_READ and exec-only would report
// false disagreements.
enum class Prot : std::uint8_t { kNone, kRead, kReadWrite };

struct OpMmap {
  MapKind kind = MapKind::kAnonPrivate;
  std::uint32_t file = 0;   // file kinds: which temp file
  std::uint32_t pgoff = 0;  // file kinds: first file page (may be past EOF)
  bool fixed = true;        // MAP_FIXED_NOREPLACE; else first fit
  bool hint = false;        // !fixed: pass page/misalign as a hint, else 0
  std::uint32_t page = 0;
  std::uint32_t misalign = 0;  // bytes added to the address (edge cases)
  std::uint64_t length = 0;    // bytes; may be 0 or unaligned
  Prot prot = Prot::kReadWrite;
};

struct OpMunmap {
  std::uint32_t page = 0;
  std::uint32_t misalign = 0;
  std::uint64_t length = 0;
};

struct OpMprotect {
  std::uint32_t page = 0;
  std::uint32_t misalign = 0;
  std::uint64_t length = 0;
  Prot prot = Prot::kRead;
};

// One byte, read or written through process_vm_readv/writev. With `in_vma`,
// `page` counts from the start of the model's (vma % n)-th VMA (modulo its
// size) at execution time, so that most accesses hit a mapping whatever the
// ops before them did; without it (or with no VMA) it counts from the base.
struct OpRead {
  bool in_vma = false;
  std::uint32_t vma = 0;
  std::uint32_t page = 0;
  std::uint32_t offset = 0;
};

struct OpWrite {
  bool in_vma = false;
  std::uint32_t vma = 0;
  std::uint32_t page = 0;
  std::uint32_t offset = 0;
  std::uint8_t value = 0;
};

// madvise(MADV_DONTNEED) on the kernel, zap_page_range_single on the model,
// over pages [first, first + count) of the model's (vma % n)-th VMA, with
// first and count clamped into that VMA at execution time. No VMA: no-op.
struct OpZap {
  std::uint32_t vma = 0;
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

// madvise(MADV_POPULATE_WRITE) on the kernel, System::populate on the
// model, of [page, page + length) from the base (misaligned or of any
// length, for madvise's EINVAL paths; over holes, for its ENOMEM).
struct OpPopulate {
  std::uint32_t page = 0;
  std::uint32_t misalign = 0;
  std::uint64_t length = 0;
};

struct OracleOp {
  std::variant<OpMmap, OpMunmap, OpMprotect, OpRead, OpWrite, OpZap, OpPopulate> op;
};

// A whole sequence; printed one op per line.
struct OpSequence {
  std::vector<OracleOp> ops;
};

const char* prot_name(Prot p);
int prot_bits(Prot p);  // PROT_* for the kernel
std::ostream& operator<<(std::ostream& os, const OracleOp& op);
std::ostream& operator<<(std::ostream& os, const OpSequence& seq);

// The printed form read back: one op as operator<< prints it (without the
// "#N " of a sequence listing), e.g. "mmap(B+0xe000, len 0x4000, RW, file0
// shared pgoff 9, FIXED_NOREPLACE)". nullopt with *error on anything else.
// Printing what it returns gives the same line back.
std::optional<OracleOp> parse_oracle_op(std::string_view line, std::string* error);

// A kernel-oracle regression file (regressions/*.oracle): a header ("# kind:
// oracle", "# caught: ...") and one op per line (testing/line_file.h).
struct OracleFile {
  std::map<std::string, std::string> header;
  OpSequence seq;
};
std::optional<OracleFile> parse_oracle_file(std::string_view text, std::string* error);
// The ready regression file a disagreement prints: kind oracle, and as
// "caught" what disagreed (the report's first "- ..." line, else its first line).
std::string oracle_regression_file(const OpSequence& seq, const std::string& report);
// The file for `seq`, with the header lines given.
std::string format_oracle_file(const std::vector<std::pair<std::string, std::string>>& header,
                               const OpSequence& seq);

rc::Gen<OracleOp> gen_op();
// Sequences of 0..size ops (RapidCheck's size; max_size bounds the length).
rc::Gen<OpSequence> gen_sequence();

}  // namespace mmv::oracle

namespace rc {
template <>
struct Arbitrary<mmv::oracle::OpSequence> {
  static Gen<mmv::oracle::OpSequence> arbitrary() {
    return mmv::oracle::gen_sequence();
  }
};
}  // namespace rc
