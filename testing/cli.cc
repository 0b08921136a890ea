#include "testing/cli.h"

#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mmv::cli {
namespace {

std::string quoted(std::string_view name, std::string_view text) {
  return std::string(name) + ": '" + std::string(text) + "' is not ";
}

// from_chars over the whole text: no sign, space or trailing garbage.
std::optional<std::uint64_t> whole_uint(std::string_view text, int base) {
  if (text.empty()) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;  // also overflow
  return v;
}

std::string number_text(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

}  // namespace

Parsed<std::uint64_t> parse_uint(std::string_view name, std::string_view text, std::uint64_t lo, std::uint64_t hi) {
  const std::optional<std::uint64_t> v = whole_uint(text, 10);
  if (v && *v >= lo && *v <= hi) return {v, {}};
  return {std::nullopt, quoted(name, text) + "an integer " +
                            (hi == kU64Max ? ">= " + std::to_string(lo)
                                           : "from " + std::to_string(lo) + " to " + std::to_string(hi))};
}

Parsed<std::uint64_t> parse_seed(std::string_view name, std::string_view text) {
  std::optional<std::uint64_t> v;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    v = whole_uint(text.substr(2), 16);
  else
    v = whole_uint(text, 10);
  if (v) return {v, {}};
  return {std::nullopt, quoted(name, text) + "a seed: an unsigned 64-bit integer, decimal or 0x hex"};
}

Parsed<double> parse_seconds(std::string_view name, std::string_view text, double max) {
  double v = 0;
  // Digits or '.' first: no sign, space, "inf" or "nan".
  if (!text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::general);
    if (ec == std::errc() && end == text.data() + text.size() && std::isfinite(v) && v > 0 && v <= max)
      return {v, {}};
  }
  return {std::nullopt, quoted(name, text) + "a number of seconds > 0 and <= " + number_text(max)};
}

std::string join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

Parsed<std::string> parse_choice(std::string_view name, std::string_view text,
                                 const std::vector<std::string_view>& allowed) {
  for (std::string_view a : allowed)
    if (text == a) return {std::string(text), {}};
  return {std::nullopt, quoted(name, text) + "one of " + join(allowed)};
}

void usage_exit(std::string_view program, std::string_view message) {
  std::fflush(stdout);
  if (program.empty())
    std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
  else
    std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
                 static_cast<int>(message.size()), message.data());
  std::exit(kUsageError);
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

Parsed<std::vector<Option>> split_options(int argc, const char* const* argv,
                                          std::initializer_list<std::string_view> flags) {
  std::vector<Option> out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      out.push_back({"", a, a});
      continue;
    }
    const std::size_t eq = a.find('=');
    Option o{a.substr(0, eq), "", a};
    bool flag = false;
    for (std::string_view f : flags) flag = flag || o.name == f;
    if (flag) {
      if (eq != std::string::npos) return {std::nullopt, o.name + " takes no value, not '" + a.substr(eq + 1) + "'"};
    } else if (eq != std::string::npos) {
      o.value = a.substr(eq + 1);
    } else if (i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) {
      o.value = argv[++i];
      o.raw += " " + o.value;
    } else {
      return {std::nullopt, o.name + " needs a value (" + o.name + "=VALUE or " + o.name + " VALUE)"};
    }
    out.push_back(std::move(o));
  }
  return {std::move(out), {}};
}

std::string unknown_option(std::string_view name, const std::vector<std::string_view>& known) {
  return "unknown option '" + std::string(name) + "'; the options are " + join(known);
}

}  // namespace mmv::cli
