// The HTML timeline of a failed linearizability check (lincheck/timeline.h):
// its escaping, its lanes, its window and prefix, on the compare-and-set
// register of lincheck/models.h. That the page draws in a browser is
// lincheck/timeline_browser_test.sh's to show.
#include "lincheck/timeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lincheck/models.h"

namespace mmv::lin {
namespace {

using namespace std::chrono_literals;
using Reg = CasRegister;
using RegOp = Op<Reg::Input, Reg::Output>;

RegOp write(int client, std::uint64_t call, std::uint64_t ret, std::int64_t v) {
  return {client, call, ret, true, {Reg::Input::kWrite, v, 0}, {}};
}
RegOp read(int client, std::uint64_t call, std::uint64_t ret, std::optional<std::int64_t> seen) {
  return {client, call, ret, true, {Reg::Input::kRead, 0, 0}, {true, seen}};
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// The JSON blob the page draws from.
std::string data_of(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"timeline-data\">";
  const std::size_t from = page.find(open);
  EXPECT_NE(from, std::string::npos);
  const std::size_t to = page.find("</script>", from);
  return page.substr(from + open.size(), to - from - open.size());
}

const std::function<OpText(const RegOp&, std::size_t)> kPrint = [](const RegOp& op, std::size_t i) {
  OpText t;
  if (op.input.kind == Reg::Input::kWrite) {
    t.command = "write " + std::to_string(op.input.a);
    t.outcome = "ok";
  } else {
    t.command = "read";
    t.outcome = op.output.value ? std::to_string(*op.output.value) : "nil";
  }
  t.detail = "op " + std::to_string(i);
  return t;
};

TEST(LinHtml, HtmlEscapeEscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape("<a href=\"x\" title='y'>&amp;</a>"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
  EXPECT_EQ(html_escape("plain text"), "plain text");
}

TEST(LinHtml, JsonStringsCannotEndTheScriptElement) {
  EXPECT_EQ(json_string("</script><!--"), "\"\\u003c/script\\u003e\\u003c!--\"");
  EXPECT_EQ(json_string("a\"b\\c\nd\te&f"), "\"a\\\"b\\\\c\\nd\\te\\u0026f\"");
  EXPECT_EQ(json_string(std::string("\x01\x7f", 2)), "\"\\u0001\\u007f\"");
  EXPECT_EQ(json_string("x\xe2\x80\xa8y\xe2\x80\xa9z"), "\"x\\u2028y\\u2029z\"");
  EXPECT_EQ(json_string("\xc3\xa9"), "\"\xc3\xa9\"") << "other UTF-8 passes as it is";
}

// t0: [w1]            [r2?]   a read of 2 that nobody wrote
// t1:      [w3]
// t2:   [r1]
std::vector<RegOp> bad_history() {
  return {write(0, 0, 10, 1), read(2, 5, 15, 1), write(1, 20, 30, 3), read(0, 40, 50, 2)};
}

TEST(LinHtml, APageOfAViolation) {
  const std::vector<RegOp> h = bad_history();
  const Result r = check(Reg{}, Reg::State{}, h, 5s);
  ASSERT_EQ(r.verdict, Verdict::kNotLinearizable);
  TimelineOptions o;
  o.title = "register <b>&</b>";
  o.report = "text report: <read 2>";
  const std::string page = timeline_html(h, r.deepest, kPrint, o);
  const std::string data = data_of(page);

  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<title>register &lt;b&gt;&amp;&lt;/b&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find("<h1>register &lt;b&gt;&amp;&lt;/b&gt;</h1>"), std::string::npos);
  EXPECT_NE(page.find("<pre>text report: &lt;read 2&gt;</pre>"), std::string::npos);
  // One lane per client, in order; every operation with its text.
  EXPECT_NE(data.find("\"lanes\":[0,1,2]"), std::string::npos) << data;
  EXPECT_EQ(count(data, "{\"i\":"), 4u);
  EXPECT_NE(data.find("\"cmd\":\"write 3\",\"out\":\"ok\",\"d\":\"op 2\""), std::string::npos) << data;
  // The prefix is the three operations before the bad read; the window is
  // client 0's last placed one and the read.
  EXPECT_NE(data.find("\"placed\":3"), std::string::npos) << data;
  EXPECT_EQ(count(data, "\"p\":1"), 3u) << data;
  EXPECT_NE(data.find("{\"i\":3,\"c\":0,"), std::string::npos);
  EXPECT_NE(data.find("\"p\":0,\"w\":2,\"cmd\":\"read\",\"out\":\"2\""), std::string::npos) << data;
  EXPECT_NE(data.find("\"p\":1,\"w\":1,\"cmd\":\"write 1\""), std::string::npos) << data;
  EXPECT_EQ(count(data, "\"w\":0"), 2u) << data;
  // The prefix ends at the read's return, the last of the 8 events.
  EXPECT_NE(data.find("\"frontier\":7"), std::string::npos) << data;
  // Self-contained: nothing to fetch.
  for (const char* outside : {"http:", "https:", "src=", "<link", "@import", "url("})
    EXPECT_EQ(page.find(outside), std::string::npos) << outside;
  EXPECT_EQ(count(page, "<script"), 2u);
}

TEST(LinHtml, CommandTextIsNeverMarkup) {
  const std::vector<RegOp> h = bad_history();
  const Result r = check(Reg{}, Reg::State{}, h, 5s);
  ASSERT_EQ(r.verdict, Verdict::kNotLinearizable);
  const std::function<OpText(const RegOp&, std::size_t)> evil = [](const RegOp&, std::size_t) {
    return OpText{"</script><script>alert(\"x\")</script>", "<img onerror='y'>&", "<!-- -->"};
  };
  const std::string page = timeline_html(h, r.deepest, evil, {});
  EXPECT_EQ(page.find("alert(\"x\")"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<!--"), std::string::npos);
  EXPECT_EQ(count(page, "<script"), 2u) << "only the page's own two";
  EXPECT_EQ(count(page, "</script>"), 2u);
  EXPECT_NE(page.find("\"cmd\":\"\\u003c/script\\u003e\\u003cscript\\u003ealert(\\\"x\\\")\\u003c/script\\u003e\""),
            std::string::npos);
  EXPECT_NE(page.find("\"out\":\"\\u003cimg onerror='y'\\u003e\\u0026\""), std::string::npos);
}

TEST(LinHtml, OneLanePerClientWhateverTheirIds) {
  // Clients 7, 3 and 42 (a process id may be anything), one with no response.
  std::vector<RegOp> h = {write(7, 0, 10, 1), read(42, 20, 30, 5), write(3, 1, 2, 9)};
  h[2].responded = false;
  const Result r = check(Reg{}, Reg::State{}, h, 5s);
  ASSERT_EQ(r.verdict, Verdict::kNotLinearizable);
  const std::string data = data_of(timeline_html(h, r.deepest, kPrint, {}));
  EXPECT_NE(data.find("\"lanes\":[3,7,42]"), std::string::npos) << data;
  EXPECT_NE(data.find("{\"i\":2,\"c\":3,\"s\":1,\"e\":-1,"), std::string::npos) << "no return event: " << data;
}

TEST(LinHtml, ALongHistoryIsDrawnAroundItsWindow) {
  // 2000 operations on 2 clients, one after another; the window is 1200-1201.
  std::vector<TimelineOp> ops;
  for (int i = 0; i < 2000; ++i)
    ops.push_back({i % 2, static_cast<std::uint64_t>(10 * i), static_cast<std::uint64_t>(10 * i + 5), true,
                   {"op" + std::to_string(i), "ok", ""}});
  std::vector<bool> placed(2000, false);
  for (int i = 0; i < 1200; ++i) placed[i] = true;
  TimelineOptions o;
  o.max_ops = 100;
  const std::string page = timeline_html(ops, placed, {1198, 1199, 1200, 1201}, o);
  const std::string data = data_of(page);
  EXPECT_EQ(count(data, "{\"i\":"), 100u);
  for (int i : {1150, 1198, 1199, 1200, 1201, 1249})
    EXPECT_NE(data.find("{\"i\":" + std::to_string(i) + ","), std::string::npos) << i;
  for (int i : {1149, 1250}) EXPECT_EQ(data.find("{\"i\":" + std::to_string(i) + ","), std::string::npos) << i;
  EXPECT_NE(page.find("Drawn: 100 of 2000 operations around the window (1150 called before them and 750 after"),
            std::string::npos);
  EXPECT_NE(data.find("\"total\":2000,\"placed\":1200"), std::string::npos);
  // The prefix ends at op 1200's return: its rank among the drawn events.
  EXPECT_NE(data.find("\"frontier\":101"), std::string::npos) << data.substr(0, 200);
}

TEST(LinHtml, WriteTextFileWritesOrSaysWhy) {
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("timeline_test_" + std::to_string(::getpid()) + ".html");
  std::string error;
  ASSERT_TRUE(write_text_file(p.string(), "<p>x</p>\n", &error)) << error;
  std::ifstream in(p);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), "<p>x</p>\n");
  std::filesystem::remove(p);
  EXPECT_FALSE(write_text_file("/nonexistent-dir/x.html", "x", &error));
  EXPECT_NE(error.find("/nonexistent-dir/x.html"), std::string::npos) << error;
}

}  // namespace
}  // namespace mmv::lin
