// The readers of Jepsen logs and EDN lines (lincheck/history_file.h): values,
// events, pairing, and errors that name their line.
#include "lincheck/history_file.h"

#include <gtest/gtest.h>

#include <sstream>

namespace mmv::history {
namespace {

// The format sniffed from `text`, then its operations.
std::vector<Operation> sniffed_ops(const std::string& text, Format want) {
  std::istringstream in(text);
  EXPECT_EQ(sniff(in), want);
  return pair_events(read_events(in, want));
}

std::vector<Operation> ops_of(const std::string& text, Format f) {
  std::istringstream in(text);
  return pair_events(read_events(in, f));
}

int error_line(const std::string& text, Format f) {
  try {
    ops_of(text, f);
  } catch (const ParseError& e) {
    return e.line;
  }
  return 0;
}

TEST(HistoryFile, EdnValuesReadAndWriteBack) {
  for (const char* text : {"nil", "42", "-7", "\"a \\\"b\\\" c\"", ":timed-out", "[1 2]", "{:a 1, :b [nil \"x\"]}"})
    EXPECT_EQ(parse_edn(text).edn(), text);
  EXPECT_EQ(parse_edn(" ( 1 , 2 ) ").edn(), "[1 2]");
  const Value m = parse_edn("{:process 3, :f :get}");
  ASSERT_NE(m.get("process"), nullptr);
  EXPECT_EQ(m.get("process")->integer, 3);
  EXPECT_EQ(m.get("missing"), nullptr);
  for (const char* bad : {"", "\"open", "[1 2", "{:a}", "12x", "true", "1 2", ":"})
    EXPECT_THROW(parse_edn(bad), ParseError) << bad;
}

TEST(HistoryFile, JepsenLogPairsCallsWithCompletions) {
  const std::string log =
      "INFO  jepsen.core - setting up (skipped)\n"
      "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]\n"
      "INFO  jepsen.util - 4\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 4\t:info\t:read\t:timed-out\n"
      "INFO  jepsen.util - 3\t:fail\t:cas\t[1 2]\n"
      "INFO  jepsen.util - 5\t:invoke\t:write\t9\n";
  const auto ops = sniffed_ops(log, Format::kJepsenLog);
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].process, 3);
  EXPECT_EQ(ops[0].f, "cas");
  EXPECT_EQ(ops[0].input.edn(), "[1 2]");
  EXPECT_EQ(ops[0].outcome, Type::kFail);
  EXPECT_EQ(ops[0].call_line, 2);
  EXPECT_EQ(ops[0].ret_line, 5);
  EXPECT_LT(ops[0].call, ops[1].call);
  EXPECT_EQ(ops[1].outcome, Type::kInfo);
  EXPECT_EQ(ops[2].outcome, Type::kInfo) << "never completed";
  EXPECT_EQ(ops[2].ret_line, 0);
}

TEST(HistoryFile, EdnLinesCarryKeys) {
  const std::string edn =
      "; a comment\n"
      "\n"
      "{:process 1, :type :invoke, :f :get, :key \"9\", :value nil}\n"
      "{:process 1, :type :ok, :f :get, :key \"9\", :value \"x\"}\n";
  const auto ops = sniffed_ops(edn, Format::kEdnLines);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].key, "9");
  EXPECT_EQ(ops[0].outcome, Type::kOk);
  EXPECT_EQ(ops[0].output.text, "x");
  EXPECT_EQ(ops[0].call_line, 3);
}

TEST(HistoryFile, MalformedInputNamesItsLine) {
  const Format j = Format::kJepsenLog, e = Format::kEdnLines;
  EXPECT_EQ(error_line("INFO  jepsen.util - 1\t:ok\t:read\t3\n", j), 1) << "a completion with no call";
  EXPECT_EQ(error_line("INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n", j), 2)
      << "a second call while one is pending";
  EXPECT_EQ(error_line("INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:write\t3\n", j), 2)
      << "a completion of another function";
  EXPECT_EQ(error_line("INFO  jepsen.util - x\t:invoke\t:read\tnil\n", j), 1);
  EXPECT_EQ(error_line("INFO  jepsen.util - 1\t:started\t:read\tnil\n", j), 1);
  EXPECT_EQ(error_line("INFO  jepsen.util - 1\t:invoke\n", j), 1);
  EXPECT_EQ(error_line("{:process 1, :type :invoke, :f :get, :key \"a\"}\n{:process 1 :type}\n", e), 2);
  EXPECT_EQ(error_line("{:process 1, :type :invoke, :f :get, :key \"a\", :value nil}\n"
                       "{:process 1, :type :ok, :f :get, :key \"b\", :value nil}\n",
                       e),
            2)
      << "a completion for another key";
  EXPECT_EQ(error_line("[1 2]\n", e), 1) << "not a map";
  EXPECT_EQ(error_line("{:type :invoke, :f :get}\n", e), 1) << "no process";
  std::istringstream neither("hello\nworld\n");
  EXPECT_EQ(sniff(neither), std::nullopt);
}

}  // namespace
}  // namespace mmv::history
