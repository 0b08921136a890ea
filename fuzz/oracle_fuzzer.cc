// libFuzzer target: the model against this machine's kernel (the kernel
// oracle, model/oracle/kernel_oracle.h), every comparison after every op, in
// a scratch span of the fuzzer's own address space.
//
// An input that is a regression file (it starts with "# kind: oracle") is
// read as text, so regressions/*.oracle seed the corpus; any other input is
// decoded from bytes below. A disagreement prints the regression file and
// aborts (a crash for libFuzzer); one that the kernel's own page migration
// or reclaim may have caused is first run again (run_sequence,
// model/oracle/kernel_activity.h).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "impl/fault_switch.h"
#include "model/oracle/kernel_oracle.h"
#include "model/oracle/oracle_op.h"

namespace {

using namespace mmv;
using namespace mmv::oracle;

class Bytes {
 public:
  Bytes(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool empty() const { return n_ == 0; }
  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint32_t page() { return u8() % kRegionPages; }
  std::uint32_t misalign() { return u8() < 240 ? 0 : u8() % kPageSize; }
  std::uint64_t length() {
    const std::uint8_t b = u8();
    if (b < 230) return (1 + b % 16) * kPageSize;
    if (b < 245) return (1 + b % 16) * kPageSize - 1 - b % 7;
    return 0;
  }
  Prot prot() { return static_cast<Prot>(u8() % 3); }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

OpSequence decode(const std::uint8_t* data, std::size_t size) {
  Bytes b(data, size);
  OpSequence seq;
  while (!b.empty() && seq.ops.size() < 40) {
    switch (b.u8() % 7) {
      case 0: {
        OpMmap o;
        const std::uint8_t shape = b.u8();
        o.kind = static_cast<MapKind>(shape % 3);
        o.file = (shape >> 2) % kNumFiles;
        o.fixed = (shape & 8) == 0;
        o.hint = (shape & 16) != 0;
        o.pgoff = b.u8() % (kFilePages + 4);
        o.page = b.page();
        o.misalign = b.misalign();
        o.length = b.length();
        o.prot = b.prot();
        seq.ops.push_back({o});
        break;
      }
      case 1: seq.ops.push_back({OpMunmap{b.page(), b.misalign(), b.length()}}); break;
      case 2: seq.ops.push_back({OpMprotect{b.page(), b.misalign(), b.length(), b.prot()}}); break;
      case 3: {
        const std::uint8_t how = b.u8();
        seq.ops.push_back({OpRead{(how & 1) != 0, static_cast<std::uint32_t>(how >> 1) % 8, b.page(),
                                  static_cast<std::uint32_t>(b.u8()) * 16}});
        break;
      }
      case 4: {
        const std::uint8_t how = b.u8();
        seq.ops.push_back({OpWrite{(how & 1) != 0, static_cast<std::uint32_t>(how >> 1) % 8, b.page(),
                                   static_cast<std::uint32_t>(b.u8()) * 16, b.u8()}});
        break;
      }
      case 5: seq.ops.push_back({OpZap{b.u8() % 8u, b.u8() % 16u, b.u8() % 9u}}); break;
      case 6: seq.ops.push_back({OpPopulate{b.page(), b.misalign(), b.length()}}); break;
    }
  }
  return seq;
}

}  // namespace

// No fault applies to the model and the kernel; a name that is no fault
// still fails (exit 2), as in every other binary, so that a typo in
// MMV_FAULT is not a clean fuzz run.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)mmv::impl::fault_from_env_or_exit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  OpSequence seq;
  std::string error;
  std::optional<OracleFile> file;
  if (text.rfind("# kind: oracle", 0) == 0) file = parse_oracle_file(text, &error);
  seq = file ? file->seq : decode(data, size);
  if (const auto report = run_sequence(seq)) {
    std::fprintf(stderr, "%s\n\nregression file (save as regressions/<name>.oracle):\n%s\n", report->c_str(),
                 oracle_regression_file(seq, *report).c_str());
    std::fflush(stderr);
    std::abort();
  }
  return 0;
}
