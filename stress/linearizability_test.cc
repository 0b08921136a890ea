// The linearizability checker on hand-written histories whose verdict is
// known. One byte at kAddr of a private anonymous page is the register:
// writes store a value, reads return it (0 before any write).
#include "stress/linearizability.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lincheck/timeline.h"
#include "testing/model_runner.h"

namespace mmv::stress {
namespace {

using namespace std::chrono_literals;

constexpr Addr kAddr = cmd::kWindowLo;
constexpr Addr kOther = cmd::kWindowLo + 64 * kPmdSize;  // a second, independent register

cmd::ModelRunner with_registers() {
  cmd::ModelRunner m;
  for (Addr a : {kAddr, kOther}) {
    cmd::Command map;
    map.op = cmd::Op::kMmap;
    map.mmap.addr = a;
    map.mmap.length = kPageSize;
    map.mmap.fixed = true;
    EXPECT_EQ(m.apply(map).rfind("ok ", 0), 0u);
  }
  return m;
}

Operation write(int thread, std::uint64_t invoke, std::uint64_t response, std::uint8_t v,
                Addr at = kAddr) {
  Operation op{thread, invoke, response, true, {}, "ok"};
  op.input.op = cmd::Op::kWrite;
  op.input.addr = at;
  op.input.value = v;
  return op;
}

Operation read(int thread, std::uint64_t invoke, std::uint64_t response, std::uint8_t seen,
               Addr at = kAddr) {
  Operation op{thread, invoke, response, true, {}, "ok " + std::to_string(seen)};
  op.input.op = cmd::Op::kRead;
  op.input.addr = at;
  return op;
}

CheckResult check(const std::vector<Operation>& h, std::chrono::milliseconds budget = 5s) {
  return check_linearizable<cmd::ModelRunner>(with_registers(), h, budget, cmd::state_hash);
}

TEST(Linearizability, SequentialHistoryIsLinearizable) {
  //  t0: [w1]  [r1]  [w2]  [r2]
  const auto r = check({write(0, 0, 1, 1), read(0, 2, 3, 1), write(0, 4, 5, 2), read(0, 6, 7, 2)});
  EXPECT_EQ(r.verdict, Verdict::kLinearizable);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{0, 1, 2, 3}));
}

TEST(Linearizability, ReadOverlappingAWriteMaySeeEitherValue) {
  //  t0: [---- w7 ----]
  //  t1:    [ r? ]
  EXPECT_EQ(check({write(0, 0, 10, 7), read(1, 2, 5, 0)}).verdict, Verdict::kLinearizable);
  EXPECT_EQ(check({write(0, 0, 10, 7), read(1, 2, 5, 7)}).verdict, Verdict::kLinearizable);
}

TEST(Linearizability, StaleReadAfterACompletedWriteIsNot) {
  //  t0: [w5]
  //  t1:       [r0]   <- the write had completed: 0 is stale
  const auto r = check({write(0, 0, 1, 5), read(1, 2, 3, 0)});
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(r.explanation.find("UNPLACED"), std::string::npos) << r.explanation;
  EXPECT_NE(r.explanation.find("read"), std::string::npos) << r.explanation;
}

TEST(Linearizability, ValueNobodyWroteIsNot) {
  EXPECT_EQ(check({write(0, 0, 10, 1), read(1, 0, 10, 9)}).verdict, Verdict::kNotLinearizable);
}

TEST(Linearizability, OnlyTheReversedOrderOfOverlappingWritesWorks) {
  //  t0: [--- w1 ---]
  //  t1:      [--- w2 ---]
  //  t2:                    [r1]   <- so w2 must be linearized before w1
  const auto r = check({write(0, 0, 10, 1), write(1, 5, 15, 2), read(2, 20, 21, 1)});
  EXPECT_EQ(r.verdict, Verdict::kLinearizable);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{1, 0, 2}));
}

TEST(Linearizability, RealTimeOrderIsRespected) {
  //  t0: [w1]          [w2]
  //  t1:       [r2]           <- r2 ended before w2 began: impossible
  EXPECT_EQ(check({write(0, 0, 1, 1), read(1, 2, 3, 2), write(0, 4, 5, 2)}).verdict,
            Verdict::kNotLinearizable);
}

TEST(Linearizability, ErrorsAreResponsesToo) {
  // A read outside any VMA must fail with SIGSEGV in every order.
  Operation bad = read(0, 0, 1, 0, kAddr + kPmdSize);
  bad.output = "error SIGSEGV";
  EXPECT_EQ(check({bad}).verdict, Verdict::kLinearizable);
  bad.output = "ok 0";
  EXPECT_EQ(check({bad}).verdict, Verdict::kNotLinearizable);
}

TEST(Linearizability, OutOfBudgetIsUnknownNotAVerdict) {
  // Many fully concurrent writes of distinct values and a read of a value
  // nobody wrote: not linearizable, but proving it needs the whole search.
  std::vector<Operation> h;
  for (int i = 0; i < 14; ++i) h.push_back(write(i, 0, 100, static_cast<std::uint8_t>(i + 1)));
  h.push_back(read(99, 0, 100, 200));
  const auto r = check(h, 0ms);
  EXPECT_EQ(r.verdict, Verdict::kUnknown);
  EXPECT_NE(r.explanation.find("budget"), std::string::npos);
}

TEST(Linearizability, MemoisationMakesIndependentWritesCheap) {
  // 12 concurrent writes of the same value: 12! orders, but only 2^12
  // distinct (done set, state) pairs.
  std::vector<Operation> h;
  for (int i = 0; i < 12; ++i) h.push_back(write(i, 0, 100, 3));
  h.push_back(read(50, 200, 201, 3));
  const auto r = check(h);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable);
  EXPECT_LT(r.states, 10000u);
}

TEST(Linearizability, PartitionedCheckSplitsByKey) {
  std::vector<Operation> h = {write(0, 0, 10, 1), write(1, 0, 10, 2, kOther),
                              read(2, 20, 21, 1), read(3, 20, 21, 2, kOther)};
  auto by_register = [](const Operation& op) { return op.input.addr == kAddr ? 0 : 1; };
  auto ok = check_partitioned<cmd::ModelRunner>(with_registers(), h, by_register, 5s, cmd::state_hash);
  EXPECT_EQ(ok.verdict, Verdict::kLinearizable);
  h[3].output = "ok 1";  // kOther never held 1
  auto bad = check_partitioned<cmd::ModelRunner>(with_registers(), h, by_register, 5s, cmd::state_hash);
  EXPECT_EQ(bad.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(bad.explanation.find("key 1"), std::string::npos) << bad.explanation;
  // The part that failed, for its timeline: kOther's two operations.
  EXPECT_EQ(bad.part, (std::vector<std::size_t>{1, 3}));
  ASSERT_EQ(bad.placed.size(), 2u);
  EXPECT_TRUE(bad.placed[0] && !bad.placed[1]);
  const std::string page = timeline_html(h, bad, "key 1", bad.explanation);
  EXPECT_NE(page.find("\"lanes\":[1,3]"), std::string::npos);
  EXPECT_EQ(page.find("\"c\":0,"), std::string::npos) << "only the failing part is drawn";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Linearizability, AFailedCheckWritesItsTimelineAndNamesIt) {
  //  t0: [w5]
  //  t1:       [r0]   <- stale
  const std::vector<Operation> h = {write(0, 0, 1, 5), read(1, 2, 3, 0)};
  const CheckResult r = check(h);
  ASSERT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r.placed, (std::vector<bool>{true, false}));
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("linearizability_test_" + std::to_string(::getpid())) / "pages";
  ::setenv("MMV_LIN_HTML_DIR", dir.c_str(), 1);
  const std::string line = write_timeline(h, r, "stale-read", "a stale <read>", r.explanation);
  ::unsetenv("MMV_LIN_HTML_DIR");
  const std::filesystem::path page = dir / "stale-read.html";
  EXPECT_EQ(line, "timeline: " + page.string() + "\n");
  const std::string html = read_file(page);
  EXPECT_NE(html.find("<title>a stale &lt;read&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("\"lanes\":[0,1]"), std::string::npos);
  EXPECT_NE(html.find("\"cmd\":" + lin::json_string(cmd::to_string(h[0].input)) + ",\"out\":\"ok\""),
            std::string::npos);
  EXPECT_NE(html.find("\"p\":0,\"w\":2,\"cmd\":" + lin::json_string(cmd::to_string(h[1].input)) +
                      ",\"out\":\"ok 0\""),
            std::string::npos)
      << "the stale read is the window's";
  EXPECT_NE(html.find("<pre>" + lin::html_escape(r.explanation) + "</pre>"), std::string::npos);
  std::filesystem::remove_all(dir.parent_path());

  // Where it cannot be written, the line says so.
  ::setenv("MMV_LIN_HTML_DIR", "/proc/no-such-dir", 1);
  const std::string none = write_timeline(h, r, "stale-read", "a stale read", r.explanation);
  ::unsetenv("MMV_LIN_HTML_DIR");
  EXPECT_EQ(none.rfind("no timeline: ", 0), 0u) << none;
}

}  // namespace
}  // namespace mmv::stress
