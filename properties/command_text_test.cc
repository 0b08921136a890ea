// The text form of commands (testing/command_text.h): every command the
// properties can generate prints as one line that parses back to the same
// command, and a file of them (with its header) parses back whole; bad lines
// are refused with a message that says what was expected.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "properties/gen.h"
#include "testing/command_text.h"
#include "testing/impl_runner.h"
#include "testing/model_runner.h"
#include "testing/rc_default_params.h"

namespace mmv::cmd {
namespace {

MMV_RC_DEFAULT_PARAMS("seed=20251201 max_success=300 max_size=60");

// Commands drawn the way the state machine draws them: each from the state
// the previous ones left, so every kind of target appears. A command may
// carry fields its op does not use (a munmap keeps a stale mmap request);
// the text leaves those out. So what must hold is that the text is a
// fixpoint and that the parsed command does exactly what the original does,
// on the model and on the impl, step after step.
RC_GTEST_PROP(CommandText, EveryGeneratedSequenceRoundTrips, ()) {
  ModelRunner m, m_parsed;
  ImplRunner impl, impl_parsed;
  std::vector<Command> seq;
  const int n = *rc::gen::inRange(1, 60);
  for (int i = 0; i < n; ++i) {
    const Command c = *props::gen_command(m);
    if (!precondition(c, m.holdings())) continue;
    std::string error;
    const std::optional<Command> back = parse_command(to_string(c), &error);
    RC_ASSERT(back.has_value());
    RC_ASSERT(to_string(*back) == to_string(c));
    RC_ASSERT(m.apply(c) == m_parsed.apply(*back));
    RC_ASSERT(impl.apply(c) == impl_parsed.apply(*back));
    RC_ASSERT(m.system() == m_parsed.system());
    RC_ASSERT(impl.observe() == impl_parsed.observe());
    seq.push_back(*back);
  }
  const std::string text = format_command_file({{"kind", "model-vs-impl"}, {"caught", "x: y"}}, seq);
  std::string error;
  const std::optional<CommandFile> file = parse_command_file(text, &error);
  RC_ASSERT(file.has_value());
  RC_ASSERT(file->commands == seq);
  RC_ASSERT(file->header.at("kind") == "model-vs-impl");
  RC_ASSERT(file->header.at("caught") == "x: y");
}

TEST(CommandText, EveryMmapFieldSurvives) {
  Command c;
  c.op = Op::kMmap;
  c.mmap.addr = 0x40800000;
  c.mmap.length = 0x2000;
  c.mmap.prot = flags::kRead;
  c.mmap.shared = true;
  c.mmap.fixed = true;
  c.mmap.backing.kind = BackingKind::kDriver;
  c.mmap.advice = flags::kHugePage;
  c.mmap.setup = {VmaNewOp::kSetMixedMap, VmaNewOp::kTryClearMayWrite};
  EXPECT_EQ(to_string(c), "mmap fixed 0x40800000 len 0x2000 READ shared driver advice HUGEPAGE setup mixedmap setup clear_maywrite");
  std::string error;
  EXPECT_EQ(parse_command(to_string(c), &error), c) << error;
}

std::string ErrorOf(std::string_view line) {
  std::string error;
  EXPECT_FALSE(parse_command(line, &error).has_value()) << line;
  return error;
}

TEST(CommandText, BadLinesSayWhatWasExpected) {
  EXPECT_EQ(ErrorOf("frobnicate 0x1"), "unknown command 'frobnicate'");
  EXPECT_EQ(ErrorOf("munmap 0x1000"), "munmap: expected len at the end of the line");
  EXPECT_EQ(ErrorOf("munmap 0x1000 size 0x1000"), "munmap: expected 'len', got 'size'");
  EXPECT_EQ(ErrorOf("read 0xzz"), "read: expected the address (a number), got '0xzz'");
  EXPECT_EQ(ErrorOf("write 0x1000 value 256"), "write: the value 256 is not a byte");
  EXPECT_EQ(ErrorOf("read 0x1000 cpu 4"), "read: the CPU 4 is not below 4");
  EXPECT_EQ(ErrorOf("write 0x1000 value 1 cpu"), "write: expected the CPU at the end of the line");
  EXPECT_EQ(ErrorOf("zap vma 0x1000 at 0x1000 size 0x1000 cpu 1"), "zap: unexpected 'cpu' after the command");
  EXPECT_EQ(ErrorOf("mprotect 0x0 len 0x1000 READ|WRTE"), "mprotect: unknown flag 'WRTE' in the protection");
  EXPECT_EQ(ErrorOf("mmput now"), "mmput: unexpected 'now' after the command");
  EXPECT_EQ(ErrorOf("mmap fixed 0x0 len 0x1000 READ shared tmpfs"),
            "mmap: expected anon, driver or file, got 'tmpfs'");
}

TEST(CommandText, AFileNamesItsBadLine) {
  std::string error;
  EXPECT_FALSE(parse_command_file("# kind: model-vs-impl\n\nread 0x1000\nread\n", &error).has_value());
  EXPECT_EQ(error, "line 4: read: expected the address at the end of the line");
}

TEST(CommandText, CommentsAndBlankLinesAreSkippedAndTheFirstHeaderWins) {
  std::string error;
  const auto f = parse_command_file("# kind: model-vs-impl\n# a note: with spaces is not a header\n"
                                    "  read 0x10  \r\n\n# kind: other\nmmgrab\n",
                                    &error);
  ASSERT_TRUE(f.has_value()) << error;
  EXPECT_EQ(f->commands.size(), 2u);
  EXPECT_EQ(f->header.size(), 1u);
  EXPECT_EQ(f->header.at("kind"), "model-vs-impl");
}

}  // namespace
}  // namespace mmv::cmd
