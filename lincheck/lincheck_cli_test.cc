// The lincheck tool end to end: the histories in lincheck/data/
// (written here, with known verdicts: *-ok linearizable, *-bad not), usage
// and input errors, and large generated histories of both verdicts.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace mmv::lin {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int exit_code = -1;  // -1: a signal ended it
  std::string output;  // stdout and stderr, as written
};

// Runs argv[0] with its arguments through the shell, each word quoted.
ToolRun run_tool(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& word : argv) {
    line += '\'';
    for (char c : word) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += "' ";
  }
  line += "2>&1";
  ToolRun r;
  FILE* pipe = ::popen(line.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

ToolRun lincheck(std::vector<std::string> args) {
  args.insert(args.begin(), MMV_LINCHECK);
  return run_tool(args);
}

std::string model_for(const fs::path& p) { return p.filename().string().rfind("kv", 0) == 0 ? "kv" : "cas-register"; }

fs::path temp_file(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("lincheck_cli_test_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p;
}

TEST(LincheckCli, OwnHistoriesGetTheirKnownVerdicts) {
  int files = 0, bad = 0;
  for (const auto& entry : fs::directory_iterator(MMV_LINCHECK_DATA)) {
    const fs::path p = entry.path();
    const std::string stem = p.stem().string();
    const bool expect_ok = stem.size() > 3 && stem.substr(stem.size() - 3) == "-ok";
    const bool expect_bad = stem.size() > 4 && stem.substr(stem.size() - 4) == "-bad";
    ASSERT_TRUE(expect_ok || expect_bad) << p << ": name it *-ok or *-bad";
    const ToolRun r = lincheck({"--model=" + model_for(p), p.string()});
    SCOPED_TRACE(p.string() + "\n" + r.output);
    EXPECT_EQ(r.exit_code, expect_ok ? 0 : 1);
    EXPECT_NE(r.output.find(expect_ok ? ": linearizable" : ": NOT linearizable"), std::string::npos);
    if (expect_bad) {
      EXPECT_NE(r.output.find("UNPLACED"), std::string::npos) << "the window is shown";
    }
    ++files;
    bad += expect_bad;
  }
  EXPECT_GE(files, 12);
  EXPECT_GE(bad, 6);
}

TEST(LincheckCli, BadUsageAndInputExitTwoWithAReason) {
  const fs::path ok = fs::path(MMV_LINCHECK_DATA) / "register-overlap-ok.log";
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const fs::path dangling = temp_file("dangling.log", "INFO  jepsen.util - 1\t:ok\t:read\t3\n");
  const fs::path noise = temp_file("noise.txt", "nothing to see\n");
  const fs::path kv_without_key = temp_file("nokey.edn", "{:process 1, :type :invoke, :f :get, :value nil}\n");
  const fs::path unknown_f = temp_file("f.log", "INFO  jepsen.util - 1\t:invoke\t:swap\t3\n");
  const std::vector<Case> cases = {
      {{ok.string()}, "--model is required"},
      {{"--model=stack", ok.string()}, "unknown model"},
      {{"--model=kv"}, "no history file"},
      {{"--model=kv", "--jobs=3", ok.string()}, "unknown option --jobs"},
      {{"--model=kv", "--budget=-1", ok.string()}, "--budget"},
      {{"--model=kv", "--format=json", ok.string()}, "unknown format"},
      {{"--model=cas-register", "/nonexistent/history.log"}, "cannot read"},
      {{"--model=cas-register", dangling.string()}, "line 1: process 1 completes :ok :read with no call pending"},
      {{"--model=cas-register", noise.string()}, "neither a Jepsen log nor EDN lines"},
      {{"--model=kv", kv_without_key.string()}, "line 1: the kv model needs a :key"},
      {{"--model=cas-register", unknown_f.string()}, "line 1: the cas-register model has :read, :write and :cas"},
      {{"--model=cas-register", "--html=", ok.string()}, "--html needs the path"},
      {{"--model=cas-register", "--html=t.html", ok.string(), ok.string()}, "--html takes one history file"},
  };
  for (const Case& c : cases) {
    const ToolRun r = lincheck(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << "wanted: " << c.says << "\ngot: " << r.output;
  }
  for (const fs::path& p : {dangling, noise, kv_without_key, unknown_f}) fs::remove(p);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// --html=PAGE: the timeline of a violation (lincheck/timeline.h), named in the
// report; none for a linearizable history. That it draws is
// lincheck/timeline_browser_test.sh's to show.
TEST(LincheckCli, HtmlTimelineOfAViolation) {
  const fs::path page = fs::temp_directory_path() / ("lincheck_cli_test_" + std::to_string(::getpid()) + ".html");
  fs::remove(page);
  const fs::path ok = fs::path(MMV_LINCHECK_DATA) / "kv-info-ok.edn";
  ToolRun r = lincheck({"--model=kv", "--html=" + page.string(), ok.string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("timeline:"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(page));

  const fs::path bad = fs::path(MMV_LINCHECK_DATA) / "kv-stale-get-html-bad.edn";
  r = lincheck({"--model=kv", "--html=" + page.string(), bad.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("\n  timeline: " + page.string() + "\n"), std::string::npos) << r.output;
  const std::string html = read_file(page);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("\"lane\":\"process\",\"unit\":\"line\",\"total\":9,\"placed\":7"), std::string::npos);
  EXPECT_NE(html.find("\"lanes\":[0,1,2,3,4]"), std::string::npos);
  EXPECT_NE(html.find("\"cmd\":\":append \\\"\\u003cb\\u003e2\\u003c/b\\u003e\\\"\""), std::string::npos)
      << "the command, escaped";
  EXPECT_NE(html.find("\"w\":2,\"cmd\":\":get nil\",\"out\":\":ok \\\"1\\u003cb\\u003e2\\u003c/b\\u003e\\u0026amp;3\\\"\""),
            std::string::npos)
      << "the stale get is in the window";
  EXPECT_NE(html.find("\"t0\":17,\"t1\":19,\"p\":0,\"w\":2,"), std::string::npos) << "its times are its lines";
  EXPECT_NE(html.find("\"d\":\"key \\\"\\u003ck\\u0026\\\\\\\"1\\\\\\\"\\u003e\\\"\""), std::string::npos)
      << "the key in the tooltip";
  EXPECT_NE(html.find("UNPLACED lines 17-19  :get nil -&gt; :ok &quot;1&lt;b&gt;2&lt;/b&gt;&amp;amp;3&quot;"),
            std::string::npos)
      << "the text report, escaped";
  fs::remove(page);

  r = lincheck({"--model=kv", "--html=/nonexistent-dir/t.html", bad.string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("lincheck: the timeline: cannot write /nonexistent-dir/t.html"), std::string::npos)
      << r.output;
}

// lincheck_gen writes histories linearizable by construction, or with one
// read that sees a value nobody wrote.
TEST(LincheckCli, GeneratedHistoriesOfBothVerdicts) {
  for (const std::string model : {"cas-register", "kv"}) {
    for (const bool violate : {false, true}) {
      std::vector<std::string> gen = {MMV_LINCHECK_GEN, "--model=" + model, "--ops=20000", "--processes=5",
                                      "--seed=7", violate ? "--info=0" : "--info=2"};
      if (violate) gen.push_back("--violate");
      const ToolRun g = run_tool(gen);
      ASSERT_EQ(g.exit_code, 0) << g.output;
      const fs::path p = temp_file(model + (violate ? "-bad" : "-ok"), g.output);
      const ToolRun r = lincheck({"--model=" + model, p.string()});
      EXPECT_EQ(r.exit_code, violate ? 1 : 0) << r.output;
      EXPECT_NE(r.output.find("20000 operations"), std::string::npos) << r.output;
      fs::remove(p);
    }
  }
}

// Long-tailed durations keep some calls open across hundreds of others, and
// a stale get is refuted; both verdicts hold for the new shapes too.
TEST(LincheckCli, LongTailedHistoriesAndStaleReads) {
  for (const bool stale : {false, true}) {
    std::vector<std::string> gen = {MMV_LINCHECK_GEN, "--model=kv", "--ops=2000", "--processes=50",
                                    "--mix=get:45,put:5,append:50", "--durations=long-tailed", "--info=0",
                                    "--seed=3"};
    if (stale) gen.push_back("--violate=stale");
    const ToolRun g = run_tool(gen);
    ASSERT_EQ(g.exit_code, 0) << g.output;
    // Some call stays open across at least 200 lines (100 other calls).
    std::map<std::string, std::size_t> open;
    std::size_t line = 0, longest = 0;
    std::istringstream lines(g.output);
    for (std::string l; std::getline(lines, l); ++line) {
      const std::string process = l.substr(0, l.find(','));
      if (l.find(":type :invoke") != std::string::npos) open[process] = line;
      else longest = std::max(longest, line - open[process]);
    }
    EXPECT_GE(longest, 200u);
    const fs::path p = temp_file(stale ? "kv-stale" : "kv-long", g.output);
    const ToolRun r = lincheck({"--model=kv", p.string()});
    EXPECT_EQ(r.exit_code, stale ? 1 : 0) << r.output;
    fs::remove(p);
  }
  // Bad mixes and a stale register read are refused.
  for (const std::string bad : {"--mix=get:1,get:2", "--mix=read:5", "--mix=get", "--mix=get:0", "--mix=get:x"}) {
    const ToolRun g = run_tool({MMV_LINCHECK_GEN, "--model=kv", bad});
    EXPECT_EQ(g.exit_code, 2) << bad << ": " << g.output;
    EXPECT_NE(g.output.find("--mix"), std::string::npos) << g.output;
  }
  const ToolRun g = run_tool({MMV_LINCHECK_GEN, "--model=cas-register", "--violate=stale"});
  EXPECT_EQ(g.exit_code, 2) << g.output;
  EXPECT_NE(run_tool({MMV_LINCHECK_GEN, "--model=kv", "--durations=long"}).output.find("--durations"),
            std::string::npos);
}

}  // namespace
}  // namespace mmv::lin
