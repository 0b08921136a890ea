// Sequential models for lin::check (lincheck/lincheck.h) that are not memory
// management: the objects Jepsen and Porcupine histories are recorded
// against, checked by the lincheck tool (lincheck/lincheck_main.cc), and the
// generic checker's own tests (lincheck/lincheck_test.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace mmv::lin {

// A register holding an integer or nothing (nil), with read, write and
// compare-and-set: etcd's key in Jepsen's etcd test.
struct CasRegister {
  using State = std::optional<std::int64_t>;
  struct Input {
    enum Kind { kRead, kWrite, kCas } kind = kRead;
    std::int64_t a = 0;  // write: the value; cas: the expected value
    std::int64_t b = 0;  // cas: the new value
  };
  struct Output {
    bool ok = true;  // cas: whether it swapped
    State value;     // read: what it saw
  };

  std::optional<State> step(const State& s, const Input& in, const Output* out) const {
    switch (in.kind) {
      case Input::kRead:
        if (out && out->value != s) return std::nullopt;
        return s;
      case Input::kWrite: return State(in.a);
      case Input::kCas: {
        const bool swaps = s == in.a;
        if (out && out->ok != swaps) return std::nullopt;
        return swaps ? State(in.b) : s;
      }
    }
    return std::nullopt;
  }
  std::size_t hash(const State& s) const {
    return s ? std::hash<std::int64_t>{}(*s) * 0x9e3779b97f4a7c15ull + 1 : 0;
  }
  bool equal(const State& a, const State& b) const { return a == b; }
};

// One key of a key-value store of strings, absent keys reading as "", with
// get, put and append. A store's history is checked one key at a time
// (lin::partition by key): keys are independent.
struct KvKey {
  using State = std::string;
  struct Input {
    enum Kind { kGet, kPut, kAppend } kind = kGet;
    std::string value;  // put, append
  };
  struct Output {
    std::string value;  // get: what it saw
  };

  std::optional<State> step(const State& s, const Input& in, const Output* out) const {
    switch (in.kind) {
      case Input::kGet:
        if (out && out->value != s) return std::nullopt;
        return s;
      case Input::kPut: return in.value;
      case Input::kAppend: return s + in.value;
    }
    return std::nullopt;
  }
  std::size_t hash(const State& s) const { return std::hash<std::string>{}(s); }
  bool equal(const State& a, const State& b) const { return a == b; }
};

}  // namespace mmv::lin
