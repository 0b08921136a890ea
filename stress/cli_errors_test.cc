// Strict command lines and environment, end to end: every tool and a few
// test binaries run as children with bad arguments or variables, and each
// must exit with status 2 (a usage error) printing the one line that names
// the flag or variable, the bad value and what is allowed -- never run, and
// never print PASS. A run that completes no operation is NO-WORK, exit 1.
// The parsing helper itself: testing/cli_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "stress/child_run.h"

namespace mmv::stress {
namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

struct Case {
  std::vector<std::string> args;
  std::string line;  // a whole line of the output, exactly (whole) or its start
  Env env = {};
  bool whole = true;
};

ChildResult RunTool(const char* program, const std::vector<std::string>& args, const Env& env = {}) {
  ChildRun run;
  run.argv = {program};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  run.env = env;
  run.timeout = std::chrono::seconds(120);
  return run_child(run);
}

bool HasLine(const std::string& output, const std::string& line, bool whole) {
  return ("\n" + output).find("\n" + line + (whole ? "\n" : "")) != std::string::npos;
}

// Each case exits `status` with its line in the output, and no verdict.
void ExpectRefused(const char* program, const std::vector<Case>& cases, int status = 2) {
  for (const Case& c : cases) {
    const ChildResult r = RunTool(program, c.args, c.env);
    std::string what = program;
    for (const auto& [k, v] : c.env) what = k + "=" + v + " " + what;
    for (const std::string& a : c.args) what += " " + a;
    SCOPED_TRACE(what + "\n" + r.output);
    EXPECT_EQ(r.exit_code, status);
    EXPECT_TRUE(HasLine(r.output, c.line, c.whole)) << "wanted the line: " << c.line << (c.whole ? "" : "...");
    EXPECT_EQ(r.output.find("verdict=PASS"), std::string::npos);
  }
}

const std::string kThreads = "is not an integer from 1 to 16";
const std::string kSeconds = "is not a number of seconds > 0 and <= 1e+06";
const std::string kSeed = "is not a seed: an unsigned 64-bit integer, decimal or 0x hex";
const std::string kTests = "zap, remap, vmalock, mmaplock, refcount, teardown, teardown-async, teardown-mixed, lifetime, writeback, tlb";

TEST(CliErrors, StressRunnerRefusesBadNumbers) {
  const std::string p = "stress_runner: ";
  ExpectRefused(MMV_STRESS_RUNNER,
                {
                    {{"--test=zap", "--threads", "-3"}, p + "--threads: '-3' " + kThreads},
                    {{"--test=zap", "--threads", "abc"}, p + "--threads: 'abc' " + kThreads},
                    {{"--test=zap", "--threads=100000"}, p + "--threads: '100000' " + kThreads},
                    {{"--test=zap", "--threads", "0"}, p + "--threads: '0' " + kThreads},
                    {{"--test=zap", "--threads", "4x"}, p + "--threads: '4x' " + kThreads},
                    {{"--test=zap", "--seconds", "-1"}, p + "--seconds: '-1' " + kSeconds},
                    {{"--test=zap", "--seconds", "0"}, p + "--seconds: '0' " + kSeconds},
                    {{"--test=zap", "--seconds", "abc"}, p + "--seconds: 'abc' " + kSeconds},
                    {{"--test=zap", "--seconds=5x"}, p + "--seconds: '5x' " + kSeconds},
                    {{"--test=zap", "--seconds=nan"}, p + "--seconds: 'nan' " + kSeconds},
                    {{"--test=zap", "--seconds=inf"}, p + "--seconds: 'inf' " + kSeconds},
                    {{"--test=zap", "--ops", "0"}, p + "--ops: '0' is not an integer from 1 to 2147483647"},
                    {{"--test=zap", "--ops=2147483648"}, p + "--ops: '2147483648' is not an integer from 1 to 2147483647"},
                    {{"--test=zap", "--seed", "abc"}, p + "--seed: 'abc' " + kSeed},
                    {{"--test=zap", "--seed", "-1"}, p + "--seed: '-1' " + kSeed},
                    {{"--test=zap", "--seed=18446744073709551616"}, p + "--seed: '18446744073709551616' " + kSeed},
                    {{"--test=refcount", "--sched=pct", "--depth", "0"}, p + "--depth: '0' is not an integer from 1 to 16"},
                    {{"--test=refcount", "--sched=dfs", "--bound", "-1"}, p + "--bound: '-1' is not an integer from 0 to 100"},
                    {{"--test=refcount", "--sched=pct", "--schedules", "0"}, p + "--schedules: '0' is not an integer >= 1"},
                    {{"--test=refcount", "--sched=pct", "--shrink", "x"}, p + "--shrink: 'x' is not an integer from 0 to 1000000"},
                });
}

TEST(CliErrors, StressRunnerRefusesBadNamesAndShapes) {
  const std::string p = "stress_runner: ";
  ExpectRefused(MMV_STRESS_RUNNER,
                {
                    {{"--test=nope"}, p + "--test: 'nope' is not one of " + kTests},
                    {{"--test", "nope", "--threads", "2"}, p + "--test: 'nope' is not one of " + kTests},
                    {{"--test=refcount", "--sched=fifo"}, p + "--sched: 'fifo' is not one of random, pct, dfs"},
                    {{"--test=refcount", "--sched=pct", "--memory=tso"}, p + "--memory: 'tso' is not one of sc, weak"},
                    {{"--test=refcount", "--memory=weak"},
                     p + "--memory=weak needs the scheduler (--sched or MMV_SCHEDULE): OS threads run on this "
                         "machine's memory model"},
                    {{"--test=zap", "--thread", "4"},
                     p + "unknown option '--thread'; the options are --test, --threads, --seconds, --seed, --ops, "
                         "--sched, --depth, --bound, --schedules, --shrink, --memory, --help"},
                    {{"--test=zap", "--threads"}, p + "--threads needs a value (--threads=VALUE or --threads VALUE)"},
                    {{"--threads", "--test=zap"}, p + "--threads needs a value (--threads=VALUE or --threads VALUE)"},
                    {{"zap"}, p + "unexpected argument 'zap'"},
                    {{"--help=yes"}, p + "--help takes no value, not 'yes'"},
                });
}

TEST(CliErrors, StressRunnerRefusesBadEnvironment) {
  ExpectRefused(MMV_STRESS_RUNNER,
                {
                    {{"--test=refcount", "--threads=1", "--ops=10"},
                     "MMV_FAULT=kNope names no fault; the faults are: kNone kZapForgetsDirty kZapFreesTable ",
                     {{"MMV_FAULT", "kNope"}},
                     false},
                    {{"--test=refcount", "--threads=1", "--ops=10"}, "MMV_LOCKDEP: '0' is not one of on, off",
                     {{"MMV_LOCKDEP", "0"}}},
                    {{"--test=refcount", "--threads=2", "--ops=1"},
                     "stress_runner: MMV_SCHEDULE: bad schedule 'garbage': expected random:..., pct:... or list:...",
                     {{"MMV_SCHEDULE", "garbage"}}},
                    {{"--test=refcount", "--threads=2", "--ops=1"},
                     "stress_runner: MMV_SCHEDULE: bad schedule 'pct:seed=99999999999999999999': "
                     "'seed=99999999999999999999' is not seed=N, depth=D (1 to 16) or k=N (N >= 1), N an unsigned "
                     "64-bit decimal",
                     {{"MMV_SCHEDULE", "pct:seed=99999999999999999999"}}},
                    {{"--test=refcount", "--threads=2", "--ops=1"},
                     "stress_runner: MMV_SCHEDULE: bad schedule 'list:0*99999999999': more than 16777216 picks",
                     {{"MMV_SCHEDULE", "list:0*99999999999"}}},
                });
}

// What is allowed still runs, in both spellings; a run with no operation
// is NO-WORK (exit 1), never PASS.
TEST(CliErrors, StressRunnerTakesGoodValuesAndFailsARunWithNoWork) {
  const ChildResult ok = RunTool(MMV_STRESS_RUNNER, {"--test", "refcount", "--threads=2", "--ops", "20", "--seed=0x1F",
                                                 "--seconds", "30"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("test=refcount threads=2 seed=31 ops="), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("verdict=PASS"), std::string::npos) << ok.output;
  const ChildResult help = RunTool(MMV_STRESS_RUNNER, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--threads    worker threads, 1 to 16"), std::string::npos) << help.output;
  // 1 ns: the deadline has passed before any worker starts its first operation.
  ExpectRefused(MMV_STRESS_RUNNER,
                {{{"--test=refcount", "--threads=2", "--seconds=1e-9"},
                  "stress_runner: no operation completed in --seconds 1e-09: the run tested nothing"}},
                1);
  const ChildResult none = RunTool(MMV_STRESS_RUNNER, {"--test=refcount", "--threads=2", "--seconds=1e-9"});
  EXPECT_NE(none.output.find("ops=0 "), std::string::npos) << none.output;
  EXPECT_NE(none.output.find("verdict=NO-WORK"), std::string::npos) << none.output;
}

// Test binaries: the gtest main refuses an unknown MMV_FAULT in every one
// (cli_test and model_test do not even read it), stress_test its seed.
TEST(CliErrors, TestBinariesRefuseBadEnvironment) {
  const Case fault{{"--gtest_filter=-*"}, "MMV_FAULT=kNope names no fault; the faults are: kNone kZapForgetsDirty",
                   {{"MMV_FAULT", "kNope"}}};
  for (const char* binary : {MMV_CLI_TEST, MMV_MODEL_TEST, MMV_STRESS_TEST}) {
    const ChildResult r = RunTool(binary, fault.args, fault.env);
    SCOPED_TRACE(std::string("MMV_FAULT=kNope ") + binary + "\n" + r.output);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.output.rfind(fault.line, 0), 0u) << "the first line";
  }
  ExpectRefused(MMV_STRESS_TEST,
                {
                    {{"--gtest_filter=RefcountStress.WithoutThreads"}, "MMV_STRESS_SEED: 'abc' " + kSeed,
                     {{"MMV_STRESS_SEED", "abc"}}},
                    {{"--gtest_filter=RefcountStress.WithoutThreads"}, "MMV_STRESS_SEED: '-1' " + kSeed,
                     {{"MMV_STRESS_SEED", "-1"}}},
                    {{"--gtest_filter=RefcountStress.WithoutThreads"}, "MMV_LOCKDEP: 'yes' is not one of on, off",
                     {{"MMV_LOCKDEP", "yes"}}},
                });
  const ChildResult hex =
      RunTool(MMV_STRESS_TEST, {"--gtest_filter=RefcountStress.WithoutThreads"}, {{"MMV_STRESS_SEED", "0x1f"}});
  EXPECT_EQ(hex.exit_code, 0) << hex.output;
  EXPECT_NE(hex.output.find(" seed=31 "), std::string::npos) << hex.output;
}

TEST(CliErrors, ReplayersRefuseAnUnknownFault) {
  const std::string kFault = "MMV_FAULT=kNope names no fault; the faults are: kNone kZapForgetsDirty";
  const std::string file = std::string(MMV_REGRESSIONS) + "/README.md";  // never read
  for (const char* binary : {MMV_REPLAY, MMV_ORACLE_REPLAY}) {
    const ChildResult r = RunTool(binary, {file}, {{"MMV_FAULT", "kNope"}});
    SCOPED_TRACE(std::string("MMV_FAULT=kNope ") + binary + "\n" + r.output);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.output.rfind(kFault, 0), 0u) << "the first line";
  }
  ExpectRefused(MMV_REPLAY, {{{"--fault=kZapForgetsDirty"},
                              "replay: unknown option '--fault=kZapForgetsDirty'; replay takes regression files only"}});
  ExpectRefused(MMV_ORACLE_REPLAY, {{{"--seed=7"},
                                     "oracle_replay: unknown option '--seed=7'; oracle_replay takes regression files only"}});
}

TEST(CliErrors, LincheckToolsRefuseBadNumbers) {
  const std::string history = std::string(MMV_LINCHECK_DATA) + "/register-overlap-ok.log";
  const std::string lp = "lincheck: ";
  ExpectRefused(MMV_LINCHECK, {
                                  {{"--model=cas-register", "--budget=inf", history}, lp + "--budget: 'inf' " + kSeconds},
                                  {{"--model=cas-register", "--budget=nan", history}, lp + "--budget: 'nan' " + kSeconds},
                                  {{"--model=cas-register", "--budget=5x", history}, lp + "--budget: '5x' " + kSeconds},
                                  {{"--model=cas-register", "--max-memory=0", history},
                                   lp + "--max-memory: '0' is not an integer from 1 to 1048576"},
                                  {{"--model=cas-register", "--max-memory=99999999999999999999", history},
                                   lp + "--max-memory: '99999999999999999999' is not an integer from 1 to 1048576"},
                              });
  const std::string gp = "lincheck_gen: ";
  ExpectRefused(MMV_LINCHECK_GEN, {
                                      {{"--model=kv", "--ops=5x"}, gp + "--ops: '5x' is not an integer from 1 to 100000000"},
                                      {{"--model=kv", "--processes=0"},
                                       gp + "--processes: '0' is not an integer from 1 to 10000"},
                                      {{"--model=kv", "--seed=-1"}, gp + "--seed: '-1' " + kSeed},
                                  });
}

#if MMV_FAULTS
TEST(CliErrors, FaultToolsRefuseBadArgumentsAndAnUnknownFault) {
  const std::string fault = "MMV_FAULT=kNope names no fault; the faults are: kNone kZapForgetsDirty";
  for (const char* binary : {MMV_FAULT_TABLE, MMV_FAULT_REPORT}) {
    const ChildResult r = RunTool(binary, {}, {{"MMV_FAULT", "kNope"}});
    SCOPED_TRACE(std::string("MMV_FAULT=kNope ") + binary + "\n" + r.output);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.output.rfind(fault, 0), 0u) << "the first line";
  }
  const std::string p = "fault_table: ";
  ExpectRefused(MMV_FAULT_TABLE,
                {
                    {{"--schedules", "0"}, p + "--schedules: '0' is not an integer >= 1"},
                    {{"--os-seconds=-2"}, p + "--os-seconds: '-2' " + kSeconds},
                    {{"--os-attempts", "many"}, p + "--os-attempts: 'many' is not an integer from 1 to 1000"},
                    {{"--fault", "kZapForgetsDirty"},
                     p + "--fault: 'kZapForgetsDirty' is not one of kMmgetNotZeroRacy, ",
                     {},
                     false},
                    {{"--fault"}, p + "--fault needs a value (--fault=VALUE or --fault VALUE)"},
                    {{"--os-second=2"},
                     p + "unknown option '--os-second'; the options are --schedules, --os-seconds, --os-attempts, --fault, --help"},
                });
  ExpectRefused(MMV_FAULT_REPORT, {{{"--all"},
                                    "fault_report: unknown argument '--all'; the arguments are --here, "
                                    "--sanitizer-only, --list, --help"}});
}
#endif

}  // namespace
}  // namespace mmv::stress
