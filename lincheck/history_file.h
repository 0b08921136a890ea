// Histories recorded by other tools, read for the lincheck tool
// (lincheck/lincheck_main.cc). Two line formats:
//  - Jepsen's log, as in its etcd test:
//      INFO  jepsen.util - 3	:invoke	:cas	[1 2]
//    (process, type, function, value; lines without "jepsen.util -" are
//    other log output and are skipped);
//  - one EDN map per line, as in Porcupine's key-value test data:
//      {:process 1, :type :invoke, :f :get, :key "9", :value nil}
//    (blank lines and ';' comments are skipped).
// The type is :invoke, then one of :ok, :fail (the operation did not take
// effect, or for a compare-and-set: the compare failed) or :info (unknown:
// it may or may not have taken effect). Time is the order of the lines.
//
// Malformed input is an error naming its line, never skipped silently.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mmv::history {

// An EDN value: nil, an integer, a string, a keyword (:timed-out, without
// its colon), a vector or list, or a map.
struct Value {
  enum Kind { kNil, kInt, kString, kKeyword, kVector, kMap } kind = kNil;
  std::int64_t integer = 0;
  std::string text;          // kString, kKeyword
  std::vector<Value> items;  // kVector; kMap: key, value, key, value, ...
  // The value written back as EDN.
  std::string edn() const;
  // kMap: the value at keyword `key`, or null.
  const Value* get(std::string_view key) const;
};

struct ParseError : std::runtime_error {
  ParseError(int line, const std::string& what);
  int line;
};

// One EDN value spanning all of `text` (surrounding whitespace allowed).
Value parse_edn(std::string_view text, int line = 0);

enum class Type { kInvoke, kOk, kFail, kInfo };
std::string_view type_name(Type t);

struct Event {
  int line = 0;  // 1-based line in the file
  int process = 0;
  Type type = Type::kInvoke;
  std::string f;                   // the function, e.g. "cas", "get"
  std::optional<std::string> key;  // EDN lines: :key, when present
  Value value;
};

enum class Format { kJepsenLog, kEdnLines };
std::string_view format_name(Format f);
// The format of the stream, from its first non-blank, non-comment line: EDN
// if it starts with '{', Jepsen's log if it has "jepsen.util -"; nullopt if
// neither. The stream is rewound to where it was.
std::optional<Format> sniff(std::istream& in);

std::vector<Event> read_events(std::istream& in, Format format);

// An operation: an invocation and what completed it.
struct Operation {
  int process = 0;
  std::string f;
  std::optional<std::string> key;
  Value input;           // the invocation's value
  Type outcome;          // kOk, kFail or kInfo (also: never completed)
  Value output;          // the completion's value
  std::uint64_t call;    // the invocation's position among the events
  std::uint64_t ret;     // the completion's position (kInfo: none)
  int call_line = 0;
  int ret_line = 0;      // 0: never completed
};

// Pairs each invocation with its process's next completion. Errors: a
// completion with no invocation pending, an invocation while one is
// pending, a completion of another function or key.
std::vector<Operation> pair_events(const std::vector<Event>& events);

}  // namespace mmv::history
