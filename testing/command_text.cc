#include "testing/command_text.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "testing/line_file.h"

namespace mmv::cmd {
namespace {

std::string hex(std::uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

constexpr std::pair<VmaNewOp, const char*> kSetupNames[] = {
    {VmaNewOp::kSetMixedMap, "mixedmap"},        {VmaNewOp::kSetIo, "io"},
    {VmaNewOp::kSetDontExpand, "dontexpand"},    {VmaNewOp::kSetDontCopy, "dontcopy"},
    {VmaNewOp::kSetDontDump, "dontdump"},        {VmaNewOp::kTryClearMayRead, "clear_mayread"},
    {VmaNewOp::kTryClearMayWrite, "clear_maywrite"}, {VmaNewOp::kTryClearMayExec, "clear_mayexec"},
};

const char* setup_name(VmaNewOp op) {
  for (const auto& [o, name] : kSetupNames)
    if (o == op) return name;
  return "?";
}

void print_request(std::ostream& os, const MmapRequest& r) {
  os << (r.fixed ? " fixed " : " hint ") << hex(r.addr) << " len " << hex(r.length) << ' '
     << flags_to_string(r.prot) << (r.shared ? " shared" : " private");
  switch (r.backing.kind) {
    case BackingKind::kAnon: os << " anon"; break;
    case BackingKind::kFile: os << " file " << r.backing.file << " pgoff " << hex(r.backing.pgoff); break;
    case BackingKind::kDriver: os << " driver"; break;
  }
  if (r.advice) os << " advice " << flags_to_string(r.advice);
  for (VmaNewOp op : r.setup) os << " setup " << setup_name(op);
}

using Words = testing::LineWords;

// Flags as flags_to_string() prints them: names joined by '|', NONE, or a
// 0x... remainder.
VmFlags parse_flags(Words& w, const std::string& what) {
  const std::string word = w.word(what);
  if (!w.ok() || word == "NONE") return 0;
  VmFlags out = 0;
  std::size_t b = 0;
  while (b <= word.size()) {
    const std::size_t e = std::min(word.find('|', b), word.size());
    const std::string name = word.substr(b, e - b);
    bool known = false;
    for (int bit = 0; bit < 64 && !known; ++bit) {
      const VmFlags f = VmFlags{1} << bit;
      if (flags_to_string(f) == name) out |= f, known = true;
    }
    if (!known && name.rfind("0x", 0) == 0) {
      VmFlags v = 0;
      const auto [end, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), v, 16);
      if (ec == std::errc() && end == name.data() + name.size()) out |= v, known = true;
    }
    if (!known) {
      w.fail("unknown flag '" + name + "' in " + what);
      return 0;
    }
    b = e + 1;
  }
  return out;
}

bool parse_request(Words& w, MmapRequest& r) {
  const std::string placement = w.word("fixed or hint");
  if (w.ok() && placement != "fixed" && placement != "hint") w.fail("expected fixed or hint, got '" + placement + "'");
  r.fixed = placement == "fixed";
  r.addr = w.number("the address");
  w.keyword("len");
  r.length = w.number("the length");
  r.prot = parse_flags(w, "the protection");
  const std::string sharing = w.word("shared or private");
  if (w.ok() && sharing != "shared" && sharing != "private") w.fail("expected shared or private, got '" + sharing + "'");
  r.shared = sharing == "shared";
  const std::string backing = w.word("anon, driver or file");
  if (backing == "anon") {
    r.backing.kind = BackingKind::kAnon;
  } else if (backing == "driver") {
    r.backing.kind = BackingKind::kDriver;
  } else if (backing == "file") {
    r.backing.kind = BackingKind::kFile;
    r.backing.file = static_cast<FileId>(w.number("the file slot"));
    w.keyword("pgoff");
    r.backing.pgoff = w.number("the page offset");
  } else if (w.ok()) {
    w.fail("expected anon, driver or file, got '" + backing + "'");
  }
  while (w.ok() && !w.done()) {
    const std::string k = w.word("advice or setup");
    if (k == "advice") {
      r.advice = parse_flags(w, "the advice");
    } else if (k == "setup") {
      const std::string name = w.word("a setup step");
      bool known = false;
      for (const auto& [op, n] : kSetupNames)
        if (name == n) r.setup.push_back(op), known = true;
      if (!known && w.ok()) w.fail("unknown setup step '" + name + "'");
    } else {
      w.fail("expected advice or setup, got '" + k + "'");
    }
  }
  return w.ok();
}

}  // namespace

std::string to_string(const Command& c) {
  std::ostringstream os;
  os << op_name(c.op);
  switch (c.op) {
    case Op::kMmap: print_request(os, c.mmap); break;
    case Op::kMunmap:
    case Op::kPopulate: os << ' ' << hex(c.addr) << " len " << hex(c.len); break;
    case Op::kMprotect: os << ' ' << hex(c.addr) << " len " << hex(c.len) << ' ' << flags_to_string(c.prot); break;
    case Op::kRead:
    case Op::kLockVmaUnderRcu:
    case Op::kVmaLookup: os << ' ' << hex(c.addr); break;
    case Op::kWrite: os << ' ' << hex(c.addr) << " value " << +c.value; break;
    case Op::kZap:
    case Op::kZapUnderVmaLock:
      os << " vma " << hex(c.addr) << " at " << hex(c.addr2) << " size " << hex(c.len);
      break;
    case Op::kPutPage: os << " slot " << c.slot; break;
    case Op::kInsertPage: os << " slot " << c.slot << " vma " << hex(c.addr) << " at " << hex(c.addr2); break;
    case Op::kWriteback: os << " file " << c.slot; break;
    case Op::kAllocPage:
    case Op::kMmgrab:
    case Op::kMmdrop:
    case Op::kMmgetNotZero:
    case Op::kMmput:
    case Op::kMmputAsync:
    case Op::kMmapReadTrylock:
    case Op::kFailNextAllocation: break;
  }
  // CPU 0 is not written, so files from before there were CPUs read the same.
  if ((c.op == Op::kRead || c.op == Op::kWrite) && c.cpu != 0) os << " cpu " << +c.cpu;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Command& c) { return os << to_string(c); }

std::optional<Command> parse_command(std::string_view line, std::string* error) {
  Words w(line);
  const std::string name = w.word("a command");
  Command c;
  bool known = false;
  for (int i = 0; i < kNumOps && !known; ++i)
    if (name == op_name(static_cast<Op>(i))) c.op = static_cast<Op>(i), known = true;
  if (!known) {
    *error = "unknown command '" + name + "'";
    return std::nullopt;
  }
  switch (c.op) {
    case Op::kMmap: parse_request(w, c.mmap); break;
    case Op::kMunmap:
    case Op::kPopulate:
      c.addr = w.number("the address");
      w.keyword("len");
      c.len = w.number("the length");
      break;
    case Op::kMprotect:
      c.addr = w.number("the address");
      w.keyword("len");
      c.len = w.number("the length");
      c.prot = parse_flags(w, "the protection");
      break;
    case Op::kRead:
    case Op::kLockVmaUnderRcu:
    case Op::kVmaLookup: c.addr = w.number("the address"); break;
    case Op::kWrite: {
      c.addr = w.number("the address");
      w.keyword("value");
      const std::uint64_t v = w.number("the value");
      if (v > 255) w.fail("the value " + std::to_string(v) + " is not a byte");
      c.value = static_cast<std::uint8_t>(v);
      break;
    }
    case Op::kZap:
    case Op::kZapUnderVmaLock:
      w.keyword("vma");
      c.addr = w.number("the VMA's address");
      w.keyword("at");
      c.addr2 = w.number("the zap start");
      w.keyword("size");
      c.len = w.number("the zap size");
      break;
    case Op::kPutPage:
      w.keyword("slot");
      c.slot = static_cast<std::uint32_t>(w.number("the page slot"));
      break;
    case Op::kInsertPage:
      w.keyword("slot");
      c.slot = static_cast<std::uint32_t>(w.number("the page slot"));
      w.keyword("vma");
      c.addr = w.number("the VMA's address");
      w.keyword("at");
      c.addr2 = w.number("the insert address");
      break;
    case Op::kWriteback:
      w.keyword("file");
      c.slot = static_cast<std::uint32_t>(w.number("the file slot"));
      break;
    default: break;
  }
  if ((c.op == Op::kRead || c.op == Op::kWrite) && w.peek() == "cpu") {
    w.keyword("cpu");
    const std::uint64_t cpu = w.number("the CPU");
    if (cpu >= kCpus) w.fail("the CPU " + std::to_string(cpu) + " is not below " + std::to_string(kCpus));
    c.cpu = static_cast<std::uint8_t>(cpu);
  }
  if (!w.finish(name, "the command", error)) return std::nullopt;
  return c;
}

std::optional<CommandFile> parse_command_file(std::string_view text, std::string* error) {
  const testing::LineFile lines = testing::split_line_file(text);
  auto commands = testing::parse_lines<Command>(lines, parse_command, error);
  if (!commands) return std::nullopt;
  return CommandFile{lines.header, std::move(*commands)};
}

std::string regression_file(const std::vector<Command>& commands, const std::string& mismatch) {
  return format_command_file({{"kind", "model-vs-impl"}, {"caught", mismatch.substr(0, mismatch.find('\n'))}},
                             commands);
}

std::string format_command_file(const std::vector<std::pair<std::string, std::string>>& header,
                                const std::vector<Command>& commands) {
  std::string out;
  for (const auto& [k, v] : header) out += "# " + k + ": " + v + "\n";
  for (const Command& c : commands) out += to_string(c) + "\n";
  return out;
}

std::optional<CommandFile> load_command_file(const std::string& path, std::string_view kind, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::optional<CommandFile> file = parse_command_file(text.str(), error);
  if (!file) {
    *error = path + ": " + *error;
    return std::nullopt;
  }
  const auto k = file->header.find("kind");
  if (k == file->header.end() || k->second != kind) {
    *error = path + ": the header must say '# kind: " + std::string(kind) + "'";
    return std::nullopt;
  }
  if (file->commands.empty()) {
    *error = path + ": no commands";
    return std::nullopt;
  }
  return file;
}

}  // namespace mmv::cmd
