// Sequential models for lin::check (lincheck/lincheck.h) that are not memory
// management: the objects Jepsen and Porcupine histories are recorded
// against, checked by the lincheck tool (lincheck/lincheck_main.cc), and the
// generic checker's own tests (lincheck/lincheck_test.cc).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  // A read, or a compare-and-set that failed, changes no state.
  bool read_only(const Input& in, const Output* out) const {
    return in.kind == Input::kRead || (in.kind == Input::kCas && out && !out->ok);
  }
  // The hint for the search's order: a write or a compare-and-set of the
  // value a read saw.
  bool toward(const State&, const Input& in, const Output& seen) const {
    return (in.kind == Input::kWrite && seen.value == in.a) || (in.kind == Input::kCas && seen.value == in.b);
  }
  std::size_t hash(const State& s) const {
    return s ? std::hash<std::int64_t>{}(*s) * 0x9e3779b97f4a7c15ull + 1 : 0;
  }
  bool equal(const State& a, const State& b) const { return a == b; }
};

// One key of a key-value store of strings, absent keys reading as "", with
// get, put and append. A store's history is checked one key at a time
// (lin::partition by key): keys are independent.
//
// A value is a chain of immutable pieces shared between states, with its
// length and a polynomial hash kept as it grows, so that an append costs
// one small piece, not a copy of the value, and hashing costs nothing: the
// search makes millions of states, each a value thousands of bytes long
// that differs from its parent by one append. Equal values have equal
// hashes however they were built; a hash match is confirmed byte by byte
// (a get's against the value written out once per piece: Piece::flat).
// Inputs and outputs carry their text's hash: make them with input() and
// output().
struct KvKey {
  struct Piece {
    mutable std::shared_ptr<const Piece> before;  // null: the value starts here
    std::string text;
    // The whole value up to and including this piece, written out the
    // first time a get's match had to be confirmed here (see holds()), so
    // that the next confirmation is one memcmp, not a walk of the chain.
    // Set once, by whichever thread gets there first.
    mutable std::atomic<const std::string*> flat{nullptr};
    Piece(std::shared_ptr<const Piece> b, std::string t) : before(std::move(b)), text(std::move(t)) {}
    Piece(const Piece&) = delete;
    Piece& operator=(const Piece&) = delete;
    // A chain is freed in a loop, not by recursion as deep as it is long.
    ~Piece() {
      delete flat.load(std::memory_order_acquire);
      std::shared_ptr<const Piece> p = std::move(before);
      while (p && p.use_count() == 1) p = std::move(p->before);
    }
  };
  struct State {
    std::shared_ptr<const Piece> last;  // null: ""
    std::size_t length = 0;
    std::uint64_t hash = 0;  // of the whole value: see Text
    // The value, written out (for reports and tests).
    std::string text() const {
      std::string out(length, '\0');
      std::size_t end = length;
      for (const Piece* p = last.get(); p; p = p->before.get()) {
        end -= p->text.size();
        out.replace(end, p->text.size(), p->text);
      }
      return out;
    }
  };
  // A string with its hash h = sum of (c_i + 1) * B^(length - 1 - i) modulo
  // 2^61 - 1, and B^length, so that hash(a + b) = hash(a) * B^|b| + hash(b).
  struct Text {
    std::string value;
    std::uint64_t hash = 0;
    std::uint64_t power = 1;  // B^length
    Text() = default;
    explicit Text(std::string v) : value(std::move(v)) {
      for (unsigned char c : value) {
        hash = add(mul(hash, kBase), c + 1u);
        power = mul(power, kBase);
      }
    }
  };
  struct Input {
    enum Kind { kGet, kPut, kAppend } kind = kGet;
    Text value;  // put, append
  };
  struct Output {
    Text value;  // get: what it saw
  };
  static Input input(Input::Kind kind, std::string value = {}) { return {kind, Text(std::move(value))}; }
  static Output output(std::string value) { return {Text(std::move(value))}; }

  std::optional<State> step(const State& s, const Input& in, const Output* out) const {
    switch (in.kind) {
      case Input::kGet:
        if (out && !holds(s, out->value)) return std::nullopt;
        return s;
      case Input::kPut: return extend(State{}, in.value);
      case Input::kAppend: return extend(s, in.value);
    }
    return std::nullopt;
  }
  bool read_only(const Input& in, const Output*) const { return in.kind == Input::kGet; }
  // The hint for the search's order: an append whose text a get saw right
  // after s's length, where that get also saw s's last piece (so it saw a
  // value that s can still grow into, not an older one), or a put a get's
  // value begins with.
  bool toward(const State& s, const Input& in, const Output& seen) const {
    const std::string& v = seen.value.value;
    const std::string& t = in.value.value;
    if (in.kind == Input::kPut) return v.compare(0, t.size(), t) == 0;
    if (in.kind != Input::kAppend || s.length + t.size() > v.size() || v.compare(s.length, t.size(), t) != 0)
      return false;
    const Piece* last = s.last.get();
    return !last || v.compare(s.length - last->text.size(), last->text.size(), last->text) == 0;
  }
  std::size_t hash(const State& s) const { return s.hash; }
  bool equal(const State& a, const State& b) const {
    if (a.length != b.length || a.hash != b.hash) return false;
    if (a.last == b.last) return true;
    // Byte by byte from the end; the two chains may split the value into
    // different pieces.
    const Piece *pa = a.last.get(), *pb = b.last.get();
    std::size_t ia = pa ? pa->text.size() : 0, ib = pb ? pb->text.size() : 0;
    for (std::size_t left = a.length; left > 0;) {
      while (ia == 0) pa = pa->before.get(), ia = pa->text.size();
      while (ib == 0) pb = pb->before.get(), ib = pb->text.size();
      if (pa == pb && ia == ib) return true;  // the same piece from here on
      const std::size_t k = std::min(ia, ib);
      if (std::memcmp(pa->text.data() + ia - k, pb->text.data() + ib - k, k) != 0) return false;
      ia -= k, ib -= k, left -= k;
    }
    return true;
  }

 private:
  static constexpr std::uint64_t kMod = (std::uint64_t{1} << 61) - 1;
  static constexpr std::uint64_t kBase = 1000003;
  static std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
    const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
    const std::uint64_t r = static_cast<std::uint64_t>(p & kMod) + static_cast<std::uint64_t>(p >> 61);
    return r >= kMod ? r - kMod : r;
  }
  static std::uint64_t add(std::uint64_t a, std::uint64_t b) {
    const std::uint64_t r = a + b;
    return r >= kMod ? r - kMod : r;
  }
  static State extend(const State& s, const Text& t) {
    if (t.value.empty()) return s;
    return State{std::make_shared<const Piece>(s.last, t.value), s.length + t.value.size(),
                 add(mul(s.hash, t.power), t.hash)};
  }
  // Whether s holds exactly `t`.
  static bool holds(const State& s, const Text& t) {
    if (s.length != t.value.size() || s.hash != t.hash) return false;
    if (!s.last) return true;  // both ""
    return *flat_of(s) == t.value;
  }
  // s's value written out (s.last not null), made once per piece: from the
  // nearest piece before it that has one, or from the start.
  static const std::string* flat_of(const State& s) {
    const Piece* last = s.last.get();
    if (const std::string* f = last->flat.load(std::memory_order_acquire)) return f;
    std::vector<const Piece*> chain;
    const std::string* base = nullptr;
    for (const Piece* p = last; p; p = p->before.get()) {
      if (p != last && (base = p->flat.load(std::memory_order_acquire))) break;
      chain.push_back(p);
    }
    auto* made = new std::string();
    made->reserve(s.length);
    if (base) made->append(*base);
    for (auto p = chain.rbegin(); p != chain.rend(); ++p) made->append((*p)->text);
    const std::string* expected = nullptr;
    if (last->flat.compare_exchange_strong(expected, made, std::memory_order_acq_rel)) return made;
    delete made;  // another thread made it first
    return expected;
  }
};

}  // namespace mmv::lin
