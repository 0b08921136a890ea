// The container format of regression files (regressions/README.md): one
// item per line, blank lines skipped, '#' comment lines, and among the
// comments a header of "# key: value" lines (the first value of a key
// wins); and LineWords, which reads the words of one line. Shared by the
// command files (testing/command_text.h) and the kernel-oracle files
// (model/oracle/oracle_op.h), which differ only in what a line holds.
// Header-only, so the oracle library can use it without linking the command
// vocabulary.
#pragma once

#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmv::testing {

struct LineFile {
  std::map<std::string, std::string> header;
  std::vector<std::pair<int, std::string_view>> lines;  // (1-based line number, trimmed text)
};

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The lines of `text` (views into it: keep `text` alive).
inline LineFile split_line_file(std::string_view text) {
  LineFile out;
  int line_no = 0;
  std::size_t b = 0;
  while (b < text.size()) {
    const std::size_t e = std::min(text.find('\n', b), text.size());
    const std::string_view line = trim(text.substr(b, e - b));
    b = e + 1;
    ++line_no;
    if (line.empty()) continue;
    if (line.front() != '#') {
      out.lines.emplace_back(line_no, line);
      continue;
    }
    const std::string_view comment = line.substr(1);
    const std::size_t colon = comment.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = trim(comment.substr(0, colon));
    if (key.empty() || key.find(' ') != std::string_view::npos) continue;
    out.header.emplace(std::string(key), std::string(trim(comment.substr(colon + 1))));
  }
  return out;
}

// Parses every item line of `file` with `parse_line(line, &why)`; nullopt
// with *error = "line N: why" at the first line it refuses.
template <class T>
std::optional<std::vector<T>> parse_lines(
    const LineFile& file, const std::function<std::optional<T>(std::string_view, std::string*)>& parse_line,
    std::string* error) {
  std::vector<T> out;
  for (const auto& [line_no, line] : file.lines) {
    std::string why;
    std::optional<T> item = parse_line(line, &why);
    if (!item) {
      *error = "line " + std::to_string(line_no) + ": " + why;
      return std::nullopt;
    }
    out.push_back(std::move(*item));
  }
  return out;
}

// The words of one line, read in order by a parser. Any character of
// `spacing` separates words. The first problem is kept (error()); after it
// every read returns an empty or zero value.
class LineWords {
 public:
  explicit LineWords(std::string_view line, std::string_view spacing = " \t") {
    std::size_t i = 0;
    auto space = [&](char c) { return spacing.find(c) != std::string_view::npos; };
    while (i < line.size()) {
      while (i < line.size() && space(line[i])) ++i;
      const std::size_t b = i;
      while (i < line.size() && !space(line[i])) ++i;
      if (i > b) words_.emplace_back(line.substr(b, i - b));
    }
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool done() const { return at_ >= words_.size(); }
  std::string peek() const { return done() ? "" : words_[at_]; }

  std::string word(const std::string& what) {
    if (!ok()) return "";
    if (done()) return fail("expected " + what + " at the end of the line"), "";
    return words_[at_++];
  }
  void keyword(const std::string& k) {
    const std::string w = word(k);
    if (ok() && w != k) fail("expected '" + k + "', got '" + w + "'");
  }
  // A number after `prefix` ("B+", "#", "+"): hex when it starts with 0x.
  std::uint64_t number(const std::string& what, std::string_view prefix = "") {
    const std::string w = word(what);
    if (!ok()) return 0;
    std::string_view digits = w;
    if (digits.substr(0, prefix.size()) != prefix) return fail("expected " + what + ", got '" + w + "'"), 0;
    digits.remove_prefix(prefix.size());
    const bool hex = digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    if (hex) digits.remove_prefix(2);
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, hex ? 16 : 10);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      fail("expected " + what + " (a number), got '" + w + "'");
    return v;
  }
  void fail(std::string why) {
    if (ok()) error_ = std::move(why);
  }
  // The end of a parse: no word may be left after `item` ("the command").
  // False, with *error = "<name>: <the first problem>", if anything was wrong.
  bool finish(const std::string& name, const std::string& item, std::string* error) {
    if (ok() && !done()) fail("unexpected '" + peek() + "' after " + item);
    if (!ok()) *error = name + ": " + error_;
    return ok();
  }

 private:
  std::vector<std::string> words_;
  std::size_t at_ = 0;
  std::string error_;
};

}  // namespace mmv::testing
