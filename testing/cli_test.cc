// The shared parsing helper (testing/cli.h): each kind of bad value is
// refused with a message naming the flag, the value and what is allowed;
// every good spelling is read exactly. The tools' use of it, end to end:
// stress/cli_errors_test.cc.
#include "testing/cli.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace mmv::cli {
namespace {

// The message has the name, the value in quotes and what is allowed.
template <class T>
void ExpectRefused(const Parsed<T>& p, const std::string& name, const std::string& text, const std::string& allowed) {
  EXPECT_FALSE(p.value.has_value()) << name << " " << text;
  EXPECT_EQ(p.error, name + ": '" + text + "' is not " + allowed);
  EXPECT_EQ(p.error.find('\n'), std::string::npos) << "one line";
}

TEST(CliParse, UintTakesDigitsInRangeOnly) {
  EXPECT_EQ(parse_uint("--threads", "1", 1, 16).value, 1u);
  EXPECT_EQ(parse_uint("--threads", "16", 1, 16).value, 16u);
  EXPECT_EQ(parse_uint("--bound", "0", 0, 100).value, 0u);
  EXPECT_EQ(parse_uint("--n", "18446744073709551615", 1, kU64Max).value, kU64Max);
  for (const char* bad : {"-3", "abc", "", "0", "17", "100000", "5x", " 5", "5 ", "+5", "0x5", "1e3", "1.0"})
    ExpectRefused(parse_uint("--threads", bad, 1, 16), "--threads", bad, "an integer from 1 to 16");
  for (const char* bad : {"18446744073709551616", "99999999999999999999999", "-1"})
    ExpectRefused(parse_uint("--schedules", bad, 1, kU64Max), "--schedules", bad, "an integer >= 1");
}

TEST(CliParse, SeedIsAnyU64DecimalOrHex) {
  EXPECT_EQ(parse_seed("--seed", "0").value, 0u);
  EXPECT_EQ(parse_seed("--seed", "1000").value, 1000u);
  EXPECT_EQ(parse_seed("--seed", "18446744073709551615").value, kU64Max);
  EXPECT_EQ(parse_seed("--seed", "0xffffffffffffffff").value, kU64Max);
  EXPECT_EQ(parse_seed("--seed", "0X1F").value, 31u);
  EXPECT_EQ(parse_seed("--seed", "010").value, 10u) << "decimal, not octal";
  for (const char* bad : {"abc", "", "-1", "18446744073709551616", "0x", "0x1g", "0x10000000000000000", "1 ", "+1",
                          "7seven"})
    ExpectRefused(parse_seed("MMV_STRESS_SEED", bad), "MMV_STRESS_SEED", bad,
                  "a seed: an unsigned 64-bit integer, decimal or 0x hex");
}

TEST(CliParse, SecondsAreFinitePositiveAndBounded) {
  EXPECT_EQ(parse_seconds("--seconds", "5").value, 5.0);
  EXPECT_EQ(parse_seconds("--seconds", "0.5").value, 0.5);
  EXPECT_EQ(parse_seconds("--seconds", ".25").value, 0.25);
  EXPECT_EQ(parse_seconds("--seconds", "1e-3").value, 1e-3);
  EXPECT_EQ(parse_seconds("--seconds", "1000000").value, 1e6);
  for (const char* bad : {"-1", "0", "0.0", "abc", "", "5x", "nan", "inf", "-inf", "infinity", "1e999", "1000001",
                          " 5", "+5", "0x10", "5 s"})
    ExpectRefused(parse_seconds("--seconds", bad), "--seconds", bad, "a number of seconds > 0 and <= 1e+06");
  ExpectRefused(parse_seconds("--budget", "61", 60), "--budget", "61", "a number of seconds > 0 and <= 60");
}

TEST(CliParse, ChoiceListsTheAllowedWords) {
  EXPECT_EQ(parse_choice("--sched", "pct", {"random", "pct", "dfs"}).value, "pct");
  for (const char* bad : {"nope", "", "PCT", "pct "})
    ExpectRefused(parse_choice("--sched", bad, {"random", "pct", "dfs"}), "--sched", bad, "one of random, pct, dfs");
}

std::vector<Option> Split(std::vector<const char*> args, std::initializer_list<std::string_view> flags = {}) {
  args.insert(args.begin(), "prog");
  Parsed<std::vector<Option>> p = split_options(static_cast<int>(args.size()), args.data(), flags);
  EXPECT_TRUE(p.value.has_value()) << p.error;
  return p.value.value_or(std::vector<Option>{});
}

std::string SplitError(std::vector<const char*> args, std::initializer_list<std::string_view> flags = {}) {
  args.insert(args.begin(), "prog");
  const Parsed<std::vector<Option>> p = split_options(static_cast<int>(args.size()), args.data(), flags);
  EXPECT_FALSE(p.value.has_value());
  return p.error;
}

TEST(CliOptions, BothSpellingsAndFlagsAndPositionals) {
  const std::vector<Option> o = Split({"--test=zap", "--threads", "4", "--help", "FILE", "--seed", "-1", "--x="},
                                      {"--help"});
  ASSERT_EQ(o.size(), 6u);
  EXPECT_EQ(o[0].name, "--test");
  EXPECT_EQ(o[0].value, "zap");
  EXPECT_EQ(o[0].raw, "--test=zap");
  EXPECT_EQ(o[1].name, "--threads");
  EXPECT_EQ(o[1].value, "4");
  EXPECT_EQ(o[1].raw, "--threads 4");
  EXPECT_EQ(o[2].name, "--help");
  EXPECT_EQ(o[2].value, "");
  EXPECT_EQ(o[3].name, "");
  EXPECT_EQ(o[3].value, "FILE");
  // A negative number is a value (then refused by its parser), not an option.
  EXPECT_EQ(o[4].name, "--seed");
  EXPECT_EQ(o[4].value, "-1");
  EXPECT_EQ(o[5].name, "--x");
  EXPECT_EQ(o[5].value, "") << "an explicit empty value, refused by its parser";
}

TEST(CliOptions, AMissingValueOrAValueOnAFlagIsRefused) {
  EXPECT_EQ(SplitError({"--threads"}), "--threads needs a value (--threads=VALUE or --threads VALUE)");
  EXPECT_EQ(SplitError({"--threads", "--seconds", "5"}), "--threads needs a value (--threads=VALUE or --threads VALUE)");
  EXPECT_EQ(SplitError({"--help=yes"}, {"--help"}), "--help takes no value, not 'yes'");
}

TEST(CliOptions, UnknownOptionNamesTheKnownOnes) {
  EXPECT_EQ(unknown_option("--thread", {"--test", "--threads"}),
            "unknown option '--thread'; the options are --test, --threads");
}

TEST(CliEnv, EmptyMeansUnset) {
  ASSERT_EQ(setenv("MMV_CLI_TEST_VAR", "", 1), 0);
  EXPECT_EQ(env("MMV_CLI_TEST_VAR"), nullptr);
  ASSERT_EQ(setenv("MMV_CLI_TEST_VAR", "x", 1), 0);
  EXPECT_STREQ(env("MMV_CLI_TEST_VAR"), "x");
  ASSERT_EQ(unsetenv("MMV_CLI_TEST_VAR"), 0);
  EXPECT_EQ(env("MMV_CLI_TEST_VAR"), nullptr);
}

TEST(CliExit, AUsageErrorPrintsOneLineAndExitsTwo) {
  EXPECT_EXIT(or_exit(parse_uint("--ops", "0", 1, 10), "stress_runner"), ::testing::ExitedWithCode(kUsageError),
              "stress_runner: --ops: '0' is not an integer from 1 to 10");
  EXPECT_EXIT(or_exit(parse_seed("MMV_STRESS_SEED", "abc")), ::testing::ExitedWithCode(kUsageError),
              "MMV_STRESS_SEED: 'abc' is not a seed");
  EXPECT_EQ(or_exit(parse_uint("--ops", "7", 1, 10), "stress_runner"), 7u);
}

}  // namespace
}  // namespace mmv::cli
