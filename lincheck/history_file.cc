#include "lincheck/history_file.h"

#include <cctype>
#include <map>
#include <sstream>

namespace mmv::history {
namespace {

class EdnReader {
 public:
  EdnReader(std::string_view text, int line) : s_(text), line_(line) {}

  Value read_all() {
    Value v = read();
    skip_space();
    if (pos_ != s_.size()) fail("unexpected '" + std::string(1, s_[pos_]) + "' after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError(line_, what + " (column " + std::to_string(pos_ + 1) + ")");
  }
  void skip_space() {
    while (pos_ < s_.size() && (std::isspace(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == ',')) ++pos_;
  }
  static bool symbol_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("*+!-_?<>=/.#").find(c) != std::string_view::npos;
  }
  std::string_view symbol() {
    const std::size_t from = pos_;
    while (pos_ < s_.size() && symbol_char(s_[pos_])) ++pos_;
    return s_.substr(from, pos_ - from);
  }
  Value read() {
    skip_space();
    if (pos_ == s_.size()) fail("a value is missing");
    Value v;
    const char c = s_[pos_];
    if (c == '"') {
      ++pos_;
      v.kind = Value::kString;
      while (true) {
        if (pos_ == s_.size()) fail("unterminated string");
        char d = s_[pos_++];
        if (d == '"') break;
        if (d == '\\') {
          if (pos_ == s_.size()) fail("unterminated string");
          d = s_[pos_++];
          d = d == 'n' ? '\n' : d == 't' ? '\t' : d;
        }
        v.text += d;
      }
      return v;
    }
    if (c == ':') {
      ++pos_;
      v.kind = Value::kKeyword;
      v.text = symbol();
      if (v.text.empty()) fail("empty keyword");
      return v;
    }
    if (c == '[' || c == '(' || c == '{') {
      const char close = c == '[' ? ']' : c == '(' ? ')' : '}';
      ++pos_;
      v.kind = c == '{' ? Value::kMap : Value::kVector;
      while (true) {
        skip_space();
        if (pos_ == s_.size()) fail(std::string("missing '") + close + "'");
        if (s_[pos_] == close) {
          ++pos_;
          break;
        }
        v.items.push_back(read());
      }
      if (v.kind == Value::kMap && v.items.size() % 2 != 0) fail("a map needs a value for every key");
      return v;
    }
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      const std::string_view digits = symbol();
      std::size_t used = 0;
      try {
        v.integer = std::stoll(std::string(digits), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != digits.size()) fail("not an integer: " + std::string(digits));
      v.kind = Value::kInt;
      return v;
    }
    const std::string_view word = symbol();
    if (word == "nil") return v;
    fail(word.empty() ? "unexpected '" + std::string(1, c) + "'" : "unsupported value " + std::string(word));
  }

  std::string_view s_;
  int line_;
  std::size_t pos_ = 0;
};

Type parse_type(const Value& v, int line) {
  if (v.kind == Value::kKeyword) {
    if (v.text == "invoke") return Type::kInvoke;
    if (v.text == "ok") return Type::kOk;
    if (v.text == "fail") return Type::kFail;
    if (v.text == "info") return Type::kInfo;
  }
  throw ParseError(line, "the type must be :invoke, :ok, :fail or :info, not " + v.edn());
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

constexpr std::string_view kJepsenMark = "jepsen.util -";

// "3\t:invoke\t:cas\t[1 2]" after the mark.
Event jepsen_event(std::string_view rest, int line) {
  Event e;
  e.line = line;
  std::istringstream fields{std::string(rest)};
  std::string process, type, f;
  if (!(fields >> process >> type >> f)) throw ParseError(line, "expected: process :type :f value");
  const Value p = parse_edn(process, line);
  if (p.kind != Value::kInt) throw ParseError(line, "the process must be an integer, not " + process);
  e.process = static_cast<int>(p.integer);
  e.type = parse_type(parse_edn(type, line), line);
  const Value fn = parse_edn(f, line);
  if (fn.kind != Value::kKeyword) throw ParseError(line, "the function must be a keyword, not " + f);
  e.f = fn.text;
  std::string value;
  std::getline(fields, value);
  e.value = parse_edn(trim(value).empty() ? "nil" : value, line);
  return e;
}

Event edn_event(std::string_view text, int line) {
  const Value m = parse_edn(text, line);
  if (m.kind != Value::kMap) throw ParseError(line, "expected a map {:process ..., :type ..., :f ...}");
  Event e;
  e.line = line;
  const Value* process = m.get("process");
  const Value* type = m.get("type");
  const Value* f = m.get("f");
  if (!process || process->kind != Value::kInt) throw ParseError(line, ":process must be an integer");
  if (!type) throw ParseError(line, ":type is missing");
  if (!f || f->kind != Value::kKeyword) throw ParseError(line, ":f must be a keyword");
  e.process = static_cast<int>(process->integer);
  e.type = parse_type(*type, line);
  e.f = f->text;
  if (const Value* key = m.get("key")) {
    if (key->kind == Value::kNil) throw ParseError(line, ":key is nil");
    e.key = key->kind == Value::kString ? key->text : key->edn();
  }
  if (const Value* value = m.get("value")) e.value = *value;
  return e;
}

}  // namespace

ParseError::ParseError(int l, const std::string& what)
    : std::runtime_error("line " + std::to_string(l) + ": " + what), line(l) {}

std::string Value::edn() const {
  switch (kind) {
    case kNil: return "nil";
    case kInt: return std::to_string(integer);
    case kKeyword: return ":" + text;
    case kString: {
      std::string out = "\"";
      for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      return out + "\"";
    }
    case kVector:
    case kMap: {
      std::string out(1, kind == kVector ? '[' : '{');
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += (kind == kMap && i % 2 == 0) ? ", " : " ";
        out += items[i].edn();
      }
      return out + (kind == kVector ? ']' : '}');
    }
  }
  return "?";
}

const Value* Value::get(std::string_view key) const {
  if (kind != kMap) return nullptr;
  for (std::size_t i = 0; i + 1 < items.size(); i += 2)
    if (items[i].kind == kKeyword && items[i].text == key) return &items[i + 1];
  return nullptr;
}

Value parse_edn(std::string_view text, int line) { return EdnReader(text, line).read_all(); }

std::string_view type_name(Type t) {
  switch (t) {
    case Type::kInvoke: return ":invoke";
    case Type::kOk: return ":ok";
    case Type::kFail: return ":fail";
    case Type::kInfo: return ":info";
  }
  return "?";
}

std::string_view format_name(Format f) { return f == Format::kJepsenLog ? "jepsen" : "edn"; }

std::optional<Format> sniff(std::istream& in) {
  const std::streampos start = in.tellg();
  std::string line;
  std::optional<Format> found;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == ';') continue;
    if (t[0] == '{') {
      found = Format::kEdnLines;
      break;
    }
    if (t.find(kJepsenMark) != std::string::npos) {
      found = Format::kJepsenLog;
      break;
    }
  }
  in.clear();
  in.seekg(start);
  return found;
}

std::vector<Event> read_events(std::istream& in, Format format) {
  std::vector<Event> events;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (format == Format::kJepsenLog) {
      const std::size_t mark = text.find(kJepsenMark);
      if (mark == std::string::npos) continue;  // other log output
      events.push_back(jepsen_event(std::string_view(text).substr(mark + kJepsenMark.size()), line));
    } else {
      const std::string t = trim(text);
      if (t.empty() || t[0] == ';') continue;
      events.push_back(edn_event(t, line));
    }
  }
  return events;
}

std::vector<Operation> pair_events(const std::vector<Event>& events) {
  std::vector<Operation> ops;
  std::map<int, std::size_t> pending;  // process -> its invocation in ops
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    auto it = pending.find(e.process);
    if (e.type == Type::kInvoke) {
      if (it != pending.end())
        throw ParseError(e.line, "process " + std::to_string(e.process) + " invokes again while its call on line " +
                                     std::to_string(ops[it->second].call_line) + " is pending");
      Operation op;
      op.process = e.process;
      op.f = e.f;
      op.key = e.key;
      op.input = e.value;
      op.outcome = Type::kInfo;  // until it completes
      op.call = i;
      op.ret = 0;
      op.call_line = e.line;
      pending[e.process] = ops.size();
      ops.push_back(std::move(op));
      continue;
    }
    if (it == pending.end())
      throw ParseError(e.line, "process " + std::to_string(e.process) + " completes " + std::string(type_name(e.type)) +
                                   " :" + e.f + " with no call pending");
    Operation& op = ops[it->second];
    pending.erase(it);
    if (op.f != e.f || (e.key && op.key != e.key))
      throw ParseError(e.line, "the completion :" + e.f + " does not match the call :" + op.f + " on line " +
                                   std::to_string(op.call_line));
    op.outcome = e.type;
    op.output = e.value;
    op.ret = i;
    op.ret_line = e.line;
  }
  return ops;
}

}  // namespace mmv::history
