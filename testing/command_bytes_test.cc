// The byte decoder the fuzzer drives (testing/command_bytes.h): every entry
// of the fuzzer's dictionary decodes to the command its "# expect:" line
// names, and decoding is total (any bytes, including none, decode).
#include "testing/command_bytes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "testing/model_runner.h"

namespace mmv::cmd {
namespace {

struct Entry {
  std::string name;
  std::string bytes;
  std::string expect;
};

// The dictionary's entries (name="\xNN..." lines) with the "# expect:" line
// above each.
std::vector<Entry> read_dictionary(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::vector<Entry> out;
  std::string line, expect;
  while (std::getline(in, line)) {
    if (line.rfind("# expect: ", 0) == 0) {
      expect = line.substr(10);
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find("=\"");
    EXPECT_NE(eq, std::string::npos) << "not a dictionary entry: " << line;
    if (eq == std::string::npos) continue;
    Entry e{line.substr(0, eq), "", expect};
    for (std::size_t i = eq + 2; i + 1 < line.size(); ++i) {
      if (line.compare(i, 2, "\\x") == 0 && i + 3 < line.size()) {
        e.bytes += static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16));
        i += 3;
      } else {
        e.bytes += line[i];
      }
    }
    EXPECT_FALSE(expect.empty()) << e.name << " has no # expect: line";
    out.push_back(e);
    expect.clear();
  }
  return out;
}

// The state the dictionary's expectations are written for.
ModelRunner reference_state() {
  ModelRunner m;
  Command map;
  map.op = Op::kMmap;
  map.mmap.fixed = true;
  map.mmap.addr = kWindowLo;
  map.mmap.length = 4 * kPageSize;
  map.mmap.prot = flags::kRead | flags::kWrite;
  EXPECT_EQ(m.apply(map), "ok 0x40000000");
  Command write;
  write.op = Op::kWrite;
  write.addr = kWindowLo + kPageSize;
  write.value = 1;
  EXPECT_EQ(m.apply(write), "ok");
  return m;
}

TEST(CommandBytes, EveryDictionaryEntryDecodesToWhatItSays) {
  const std::vector<Entry> entries = read_dictionary(MMV_FUZZ_DICT);
  ASSERT_GE(entries.size(), 10u);
  const ModelRunner m = reference_state();
  for (const Entry& e : entries) {
    CommandDecoder d(reinterpret_cast<const std::uint8_t*>(e.bytes.data()), e.bytes.size());
    ASSERT_FALSE(d.done()) << e.name;
    EXPECT_EQ(to_string(d.next(m.system())), e.expect) << "dictionary entry " << e.name;
    EXPECT_TRUE(d.done()) << e.name << " has bytes left over: it is more than one command";
  }
}

TEST(CommandBytes, NoBytesDecodeToNoCommands) {
  CommandDecoder d(nullptr, 0);
  EXPECT_TRUE(d.done());
}

TEST(CommandBytes, MissingFieldsReadAsZero) {
  // One op byte and nothing else: the mmap reads zeros for every field.
  const std::uint8_t op = 0;
  CommandDecoder d(&op, 1);
  const ModelRunner m;
  EXPECT_EQ(to_string(d.next(m.system())), "mmap hint 0x0 len 0x1000 READ|WRITE private anon");
  EXPECT_TRUE(d.done());
}

TEST(CommandBytes, DecodingStopsAtTheCommandLimit) {
  const std::vector<std::uint8_t> reads(4 * (kMaxDecodedCommands + 10), 0x44);  // read, read, ...
  CommandDecoder d(reads.data(), reads.size());
  const ModelRunner m;
  std::size_t n = 0;
  while (!d.done()) {
    (void)d.next(m.system());
    ++n;
  }
  EXPECT_EQ(n, kMaxDecodedCommands);
}

}  // namespace
}  // namespace mmv::cmd
