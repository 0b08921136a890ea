// Strict command lines and environment variables, for every tool and test
// binary (stress_runner, fault_table, fault_report, lincheck, lincheck_gen,
// replay, the gtest main, lockdep's MMV_LOCKDEP, the scheduler's
// MMV_SCHEDULE). A value that is not what the flag or variable allows is
// refused with one line naming the flag or variable, the value and what is
// allowed -- never read as 0, clamped or ignored: "--threads abc" running
// 0 threads and printing PASS is a verdict nobody asked for. Such a usage
// error ends the process with exit status 2 (kUsageError), as
// impl::fault_from_env_or_exit does for MMV_FAULT.
//
// No dependencies (impl/ and sched/ link it too).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmv::cli {

inline constexpr int kUsageError = 2;
// Longest time bound any tool takes (about 11.6 days): far past any job, and
// a deadline of now + this stays far from steady_clock's range.
inline constexpr double kMaxSeconds = 1e6;
inline constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

// A parsed value, or why the text is not one ("NAME: 'TEXT' is not ...",
// NAME the flag or variable).
template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;
};

// A decimal integer from lo to hi: digits only (no sign, space, suffix).
Parsed<std::uint64_t> parse_uint(std::string_view name, std::string_view text, std::uint64_t lo, std::uint64_t hi);
// A seed: any unsigned 64-bit integer, decimal or hex after 0x.
Parsed<std::uint64_t> parse_seed(std::string_view name, std::string_view text);
// A number of seconds: decimal (1e-3 and .5 too), finite, > 0, <= max.
Parsed<double> parse_seconds(std::string_view name, std::string_view text, double max = kMaxSeconds);
// One of `allowed`, spelled exactly.
Parsed<std::string> parse_choice(std::string_view name, std::string_view text,
                                 const std::vector<std::string_view>& allowed);

// "a, b, c": the allowed words, for messages and usage texts.
std::string join(const std::vector<std::string_view>& words);

// Prints "PROGRAM: MESSAGE" ("MESSAGE" when program is empty) on stderr and
// exits with kUsageError.
[[noreturn]] void usage_exit(std::string_view program, std::string_view message);

// The value, or usage_exit with its error.
template <class T>
T or_exit(Parsed<T> p, std::string_view program = {}) {
  if (!p.value) usage_exit(program, p.error);
  return std::move(*p.value);
}

// The environment variable's value; nullptr when it is unset or empty (an
// empty value means unset, as for MMV_FAULT).
const char* env(const char* name);

// One argument of a command line: an option "--name=value" or "--name
// value", a flag "--name", or (name empty) a positional argument.
struct Option {
  std::string name;   // "--threads"; "" for a positional argument
  std::string value;  // its value ("" for a flag), or the positional argument
  std::string raw;    // as given: "--threads=4", "--threads 4", "FILE"
};

// Splits argv[1..] into options. Every "--name" takes a value ("=value" or
// the next argument) except those in `flags`, which take none. Refused: an
// option at the end or followed by another "--" option (its value is
// missing), and "=value" on a flag. Which names exist is the caller's to
// check (unknown_option says it).
Parsed<std::vector<Option>> split_options(int argc, const char* const* argv,
                                          std::initializer_list<std::string_view> flags = {});

// "unknown option '--x'; the options are --a, --b".
std::string unknown_option(std::string_view name, const std::vector<std::string_view>& known);

}  // namespace mmv::cli
