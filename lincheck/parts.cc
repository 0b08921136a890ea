#include "lincheck/parts.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mmv::lin {
namespace {

using history::Operation;
using history::ParseError;
using history::Type;
using history::Value;

// The checker's record of `h`, its input and output to be filled in.
template <class Model>
Op<typename Model::Input, typename Model::Output> timing_of(const Operation& h) {
  Op<typename Model::Input, typename Model::Output> op;
  op.client = h.process;
  op.call = h.call;
  op.ret = h.ret;
  op.responded = h.outcome != Type::kInfo;
  return op;
}

std::int64_t integer(const Value& v, const Operation& op, const char* what) {
  if (v.kind != Value::kInt) throw ParseError(op.call_line, std::string(what) + " must be an integer, not " + v.edn());
  return v.integer;
}

}  // namespace

std::vector<Part<CasRegister>> register_parts(const std::vector<Operation>& history) {
  using In = CasRegister::Input;
  Part<CasRegister> part;
  for (const Operation& h : history) {
    if (h.outcome == Type::kFail && h.f != "cas") continue;  // did not take effect
    auto op = timing_of<CasRegister>(h);
    if (h.f == "read") {
      op.input.kind = In::kRead;
      if (op.responded && h.output.kind != Value::kNil) op.output.value = integer(h.output, h, "a read's result");
    } else if (h.f == "write") {
      op.input = {In::kWrite, integer(h.input, h, "a write's value"), 0};
    } else if (h.f == "cas") {
      if (h.input.kind != Value::kVector || h.input.items.size() != 2)
        throw ParseError(h.call_line, "a cas takes [from to], not " + h.input.edn());
      op.input = {In::kCas, integer(h.input.items[0], h, "cas from"), integer(h.input.items[1], h, "cas to")};
      op.output.ok = h.outcome == Type::kOk;  // :fail: the compare failed
    } else {
      throw ParseError(h.call_line, "the cas-register model has :read, :write and :cas, not :" + h.f);
    }
    part.ops.push_back(op);
    part.source.push_back(&h);
  }
  return {part};
}

std::vector<Part<KvKey>> kv_parts(const std::vector<Operation>& history) {
  using In = KvKey::Input;
  std::vector<Part<KvKey>> parts;
  std::map<std::string, std::size_t> index;
  auto text = [](const Value& v, const Operation& op, const char* what) {
    if (v.kind == Value::kNil) return std::string();
    if (v.kind != Value::kString) throw ParseError(op.call_line, std::string(what) + " must be a string, not " + v.edn());
    return v.text;
  };
  for (const Operation& h : history) {
    if (!h.key) throw ParseError(h.call_line, "the kv model needs a :key");
    if (h.outcome == Type::kFail) continue;  // did not take effect
    auto op = timing_of<KvKey>(h);
    if (h.f == "get") {
      op.input = KvKey::input(In::kGet);
      if (op.responded) op.output = KvKey::output(text(h.output, h, "a get's result"));
    } else if (h.f == "put" || h.f == "append") {
      op.input = KvKey::input(h.f == "put" ? In::kPut : In::kAppend, text(h.input, h, "the value"));
    } else {
      throw ParseError(h.call_line, "the kv model has :get, :put and :append, not :" + h.f);
    }
    auto [it, fresh] = index.try_emplace(*h.key, parts.size());
    if (fresh) parts.push_back({"key \"" + *h.key + "\"", {}, {}});
    parts[it->second].ops.push_back(std::move(op));
    parts[it->second].source.push_back(&h);
  }
  return parts;
}

}  // namespace mmv::lin
