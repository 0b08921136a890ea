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
#include <new>
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
// (a get's against the value written out: Piece::written).
// Inputs and outputs carry their text's hash: make them with input() and
// output().
struct KvKey {
  // Values written out, shared along a chain: a piece's value is the first
  // `end` bytes of its buffer. A piece written out after its ancestor's
  // appends its texts to the ancestor's buffer in place, unless another
  // piece has written past the ancestor's end there already (used, claimed
  // by compare-and-swap, so bytes once published never change), in which
  // case it copies the ancestor's bytes to a buffer of its own. Along one
  // order of appends that is a copy once the buffer is full, not one per
  // get.
  // Its bytes follow it in one allocation (make()).
  struct Buffer {
    const std::size_t capacity;
    std::atomic<std::size_t> used{0};
    std::atomic<std::size_t> refs{1};  // one per piece that points here
    char* bytes() { return reinterpret_cast<char*>(this + 1); }
    const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
    static Buffer* make(std::size_t n) { return new (::operator new(sizeof(Buffer) + n)) Buffer(n); }
    static void drop(Buffer* b) {
      if (b && b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        b->~Buffer();
        ::operator delete(b);
      }
    }

   private:
    explicit Buffer(std::size_t n) : capacity(n) {}
  };
  struct Piece {
    mutable std::shared_ptr<const Piece> before;  // null: the value starts here
    std::string text;
    std::size_t end;  // the value's length up to and including this piece
    // The value up to here written out (its first `end` bytes), made the
    // first time a get's match had to be confirmed here (holds()). Set
    // once, by whichever thread gets there first.
    mutable std::atomic<Buffer*> written{nullptr};
    Piece(std::shared_ptr<const Piece> b, std::string t, std::size_t e)
        : before(std::move(b)), text(std::move(t)), end(e) {}
    Piece(const Piece&) = delete;
    Piece& operator=(const Piece&) = delete;
    // A chain is freed in a loop, not by recursion as deep as it is long.
    ~Piece() {
      Buffer::drop(written.load(std::memory_order_acquire));
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
    return last_piece_in(s, v);
  }
  // Appends and gets never make a value a get saw out of one it could
  // not; a put may.
  bool monotone(const Input& in, const Output*) const { return in.kind != Input::kPut; }
  // A put sets the value, whatever it was.
  bool resets(const Input& in, const Output*) const { return in.kind == Input::kPut; }
  // False when s is certainly not where `seen` begins: s is longer, or its
  // last piece is not where `seen` has it (then no append makes it so).
  // True may still be false: only what a wrong false would cost is
  // checked, a wrong true costs time.
  bool reachable(const State& s, const Input& in, const Output& seen) const {
    if (in.kind != Input::kGet) return true;
    const std::string& v = seen.value.value;
    return s.length <= v.size() && last_piece_in(s, v);
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
    return State{std::allocate_shared<const Piece>(Recycled<Piece>{}, s.last, t.value, s.length + t.value.size()),
                 s.length + t.value.size(),
                 add(mul(s.hash, t.power), t.hash)};
  }
  // Whether v (no shorter than s) has s's last piece where s has it.
  static bool last_piece_in(const State& s, const std::string& v) {
    const Piece* last = s.last.get();
    return !last || v.compare(s.length - last->text.size(), last->text.size(), last->text) == 0;
  }
  // Pieces are made and dropped by the thousand per search, a search's all
  // at its end: each thread keeps the blocks it freed (up to kKeep) for
  // the next ones it makes, which costs less than the allocator's own
  // bins. A block freed on another thread than made it joins that
  // thread's list.
  template <class T>
  struct Recycled {
    using value_type = T;
    Recycled() = default;
    template <class U>
    Recycled(const Recycled<U>&) {}  // NOLINT: rebinding, as allocate_shared does
    static constexpr std::size_t kKeep = std::size_t{1} << 16;
    struct List {
      std::vector<void*> blocks;
      ~List() {
        for (void* b : blocks) ::operator delete(b);
        gone() = true;
      }
    };
    // Set once the thread's list is destroyed (at its exit): a piece freed
    // after that (one a static State held) goes straight back.
    static bool& gone() {
      thread_local bool g = false;
      return g;
    }
    static List& list() {
      thread_local List l;
      return l;
    }
    T* allocate(std::size_t n) {
      if (n == 1 && !gone()) {
        List& l = list();
        if (!l.blocks.empty()) {
          void* b = l.blocks.back();
          l.blocks.pop_back();
          return static_cast<T*>(b);
        }
      }
      return static_cast<T*>(::operator new(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept {
      if (n == 1 && !gone()) {
        List& l = list();
        if (l.blocks.size() < kKeep) {
          try {
            l.blocks.push_back(p);
            return;
          } catch (const std::bad_alloc&) {  // no room to keep it: free it
          }
        }
      }
      ::operator delete(p);
    }
    template <class U>
    bool operator==(const Recycled<U>&) const { return true; }
  };
  // Whether s holds exactly `t`: one memcmp against s written out.
  static bool holds(const State& s, const Text& t) {
    if (s.length != t.value.size() || s.hash != t.hash) return false;
    if (!s.last) return true;  // both ""
    return std::memcmp(written(s.last.get())->bytes(), t.value.data(), s.length) == 0;
  }
  // The buffer holding the value up to `last`, made from the nearest piece
  // before it that has one (or from the start): see Buffer.
  static const Buffer* written(const Piece* last) {
    if (const Buffer* w = last->written.load(std::memory_order_acquire)) return w;
    const Piece* stop = last;  // the nearest piece written out, or null
    Buffer* base = nullptr;
    std::size_t base_end = 0;
    for (; stop; stop = stop->before.get()) {
      if ((base = stop->written.load(std::memory_order_acquire))) {
        base_end = stop->end;
        break;
      }
    }
    Buffer* made = nullptr;
    std::size_t from = base_end;
    if (base && last->end <= base->capacity &&
        base->used.compare_exchange_strong(from, last->end, std::memory_order_acq_rel)) {
      base->refs.fetch_add(1, std::memory_order_relaxed);
      made = base;
    } else {
      made = Buffer::make(std::max<std::size_t>(64, 2 * last->end));
      made->used.store(last->end, std::memory_order_relaxed);
      if (base) std::memcpy(made->bytes(), base->bytes(), base_end);
    }
    for (const Piece* p = last; p != stop; p = p->before.get())
      std::memcpy(made->bytes() + p->end - p->text.size(), p->text.data(), p->text.size());
    Buffer* expected = nullptr;
    if (last->written.compare_exchange_strong(expected, made, std::memory_order_acq_rel)) return made;
    Buffer::drop(made);  // another thread wrote it first
    return expected;
  }
};

}  // namespace mmv::lin
