// A generic linearizability checker: it knows nothing of memory management.
// The system under test brings a small sequential model; the checker decides
// whether a recorded concurrent history could have come from some order of
// its operations that respects real time (an operation that returned before
// another was called comes first) and in which the model gives every
// operation the output that was recorded.
//
// The model is an object with
//   using State, Input, Output;
//   std::optional<State> step(const State& s, const Input& in, const Output* out) const;
//       the state after `in` on `s`, if `in` on `s` may answer `*out`, else
//       nullopt (out is null for an operation whose outcome is unknown: any
//       answer will do);
//   std::size_t hash(const State&) const;
//   bool equal(const State&, const State&) const;
// and optionally
//   bool read_only(const Input& in, const Output* out) const;
//       true only if every state step() accepts `in` (answering `*out`) on
//       is left as it was: a read, a failed compare-and-set. Such operations
//       are then never a choice of the search (see Search::fresh_);
//   bool toward(const State& s, const Input& in, const Output& seen) const;
//       a hint, never a verdict: whether `in` on `s` looks like a step
//       toward a state a read that answered `seen` could see. Operations
//       hinted at are tried first; a wrong hint costs time only.
//   bool monotone(const Input& in, const Output* out) const;
//   bool reachable(const State& s, const Input& in, const Output& seen) const;
//       together, a way to give up on a node early: reachable() false
//       must mean that `in` cannot answer `seen` on s, nor on any state
//       that operations monotone() is true for can take s to (an append
//       never makes a value a get saw out of one it did not: monotone;
//       a put may: not). When a read the node has reached cannot see
//       what it saw, and no operation that is not monotone could come
//       before it, the node has no future (see Search::lost);
//   bool resets(const Input& in, const Output* out) const;
//       with those two: true only if `in` takes every state step() accepts
//       it on to one and the same state (a put). A read that such an
//       operation may come before is lost still if it cannot see what it
//       saw from that state either.
//
// The search is Lowe's just-in-time linearization as Porcupine implements
// it: call and return events in one time-ordered, doubly linked list; an
// operation is tried when its call is reached, and lifted out of the list
// (call and return) when the model accepts it; reaching a return whose
// operation is not yet linearized means backtracking. Linearized operations
// are a bitset over their ranks by call time, and a (set, state) pair whose
// search failed is never searched again (hash, then equality on a
// collision): the set's hash is kept as it changes, and the memo keys a set
// by its first missing rank and the bitset's words above it, which keeps a
// node small however long the history. A history without concurrency is
// replayed instead. The search runs in slices, bounded in time, and
// optionally in the memory the memo (and the states of the search's path)
// holds: past either the verdict is kUnknown, never a guess.
//
// Operations with an unknown outcome (no response: a call that crashed or
// timed out, Jepsen's :info) return "at infinity": they may take effect at
// any point after their call, or never.
//
// P-compositionality (Horn & Kroening): when the model's operations on
// different keys are independent, a history is linearizable iff each key's
// sub-history is; partition() splits a history by key, and check_parts()
// checks the parts on all cores, the cheapest first, and stops at the first
// refuted one.
//
// Thread safety: check() is a pure function of its arguments; check_parts()
// runs its own threads, each on its own part (the model's const methods are
// called from several at once, so they must not write shared data).
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace mmv::lin {

template <class In, class Out>
struct Op {
  int client = 0;
  std::uint64_t call = 0;    // invocation time
  std::uint64_t ret = 0;     // response time, > call; ignored when !responded
  bool responded = true;     // false: outcome unknown (:info)
  In input{};
  Out output{};
};

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };

struct Result {
  Verdict verdict = Verdict::kUnknown;
  std::vector<std::size_t> order;  // linearizable: a witness order (indices into the history)
  // Not linearizable: the ops of the longest partial order found, a prefix
  // of some order the model accepts ("the longest linearizable prefix", as
  // lincheck/timeline.h draws it with window() below).
  std::vector<bool> deepest;
  std::uint64_t states = 0;        // search steps: a node's walk of what it can reach, and each operation it tries
};

namespace detail {

// A 64-bit mix (splitmix64's finalizer): the Zobrist code of a rank, and
// the last step of the memo's hash.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// The set of linearized operations, over their ranks by call time. Its hash
// is kept as it changes (Zobrist: the XOR of a code per member), so hashing
// a set costs nothing; its key (what the memo stores, to compare on a hash
// hit) is small however long the history: `low`, the first rank not
// linearized (every rank below it is), then the words of the bitset from
// low's word up to the highest member, the ranks below low masked out.
class DoneSet {
 public:
  explicit DoneSet(std::size_t n) : n_(n), bits_((n + 63) / 64, 0), codes_(n) {
    for (std::size_t r = 0; r < n; ++r) codes_[r] = mix64(r + 1);
  }

  bool test(std::size_t r) const { return (bits_[r / 64] >> (r % 64)) & 1; }
  void set(std::size_t r) {
    bits_[r / 64] |= std::uint64_t{1} << (r % 64);
    hash_ ^= codes_[r];
    high_ = std::max(high_, r + 1);
    if (r == low_) {  // low_ moves to the first rank not in the set, a word at a time
      std::size_t w = low_ / 64;
      std::uint64_t free = ~bits_[w] & (~std::uint64_t{0} << (low_ % 64));
      while (free == 0 && ++w < bits_.size()) free = ~bits_[w];
      low_ = free == 0 ? n_ : std::min(n_, w * 64 + static_cast<std::size_t>(std::countr_zero(free)));
    }
  }
  void clear(std::size_t r) {
    bits_[r / 64] &= ~(std::uint64_t{1} << (r % 64));
    hash_ ^= codes_[r];
    low_ = std::min(low_, r);
    if (r + 1 == high_) {  // high_ moves to one past the highest rank in the set, a word at a time
      std::size_t w = r / 64;
      std::uint64_t used = bits_[w] & ((std::uint64_t{2} << (r % 64)) - 1);
      while (used == 0 && w > 0) used = bits_[--w];
      high_ = used == 0 ? 0 : w * 64 + 64 - static_cast<std::size_t>(std::countl_zero(used));
    }
    high_ = std::max(high_, low_);
  }
  std::uint64_t hash() const { return hash_; }
  std::size_t low() const { return low_; }
  // Appends the key: low, then the words from low's up to high's.
  void key(std::vector<std::uint64_t>& out) const {
    out.push_back(low_);
    if (high_ == low_) return;
    for (std::size_t w = low_ / 64; w <= (high_ - 1) / 64; ++w)
      out.push_back(w == low_ / 64 ? bits_[w] & (~std::uint64_t{0} << (low_ % 64)) : bits_[w]);
  }
  // Whether rank r is in the set whose key is `k`.
  static bool in_key(const std::vector<std::uint64_t>& k, std::size_t r) {
    const std::size_t low = k[0];
    if (r < low) return true;
    const std::size_t w = r / 64 - low / 64 + 1;
    return w < k.size() && (k[w] >> (r % 64)) & 1;
  }

 private:
  std::size_t n_;
  std::vector<std::uint64_t> bits_;
  std::vector<std::uint64_t> codes_;  // rank -> its Zobrist code, mix64(rank + 1)
  std::uint64_t hash_ = 0;
  std::size_t low_ = 0;   // the first rank not in the set
  std::size_t high_ = 0;  // one past the highest rank in the set (>= low_)
};

// The (linearized set, state) pairs whose search failed: open addressing
// on their hash, with equality (the set's key, then the model's equal()) on
// a hash hit, so a pair is searched at most once. The nodes are appended
// in order: states to a deque, and the set keys to one flat pool, so a
// node costs no allocation of its own.
template <class Model>
class Memo {
 public:
  using State = typename Model::State;

  explicit Memo(const Model& model) : model_(model), slots_(64) {}
  Memo(const Memo&) = delete;
  Memo& operator=(const Memo&) = delete;

  // About the memory held (a state's own heap data not counted).
  std::size_t bytes() const {
    return size_ * (sizeof(State) + sizeof(std::size_t)) + pool_.size() * sizeof(std::uint64_t) +
           slots_.size() * sizeof(Slot);
  }

  // Whether (done, s) is here.
  bool contains(const DoneSet& done, const State& s) {
    const std::uint64_t h = hash(done, s);
    key_.clear();  // made on the first full hash match
    // A slot holds its node's hash, so a probe reads the node's own data
    // only on a full hash match: one cache miss per lookup, not one per probe.
    for (std::size_t i = h & (slots_.size() - 1); slots_[i].node != 0; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].hash != h) continue;
      if (key_.empty()) done.key(key_);
      const std::size_t k = slots_[i].node - 1;
      if (ends_[k + 1] - ends_[k] == key_.size() &&
          std::equal(key_.begin(), key_.end(), pool_.begin() + static_cast<std::ptrdiff_t>(ends_[k])) &&
          model_.equal(states_[k], s))
        return true;
    }
    return false;
  }
  // Adds (done, s), which is not here (s is moved in).
  void insert(const DoneSet& done, State&& s) {
    const std::uint64_t h = hash(done, s);
    std::size_t i = h & (slots_.size() - 1);
    while (slots_[i].node != 0) i = (i + 1) & (slots_.size() - 1);
    states_.push_back(std::move(s));
    done.key(pool_);
    ends_.push_back(pool_.size());
    slots_[i] = {h, ++size_};
    if (2 * size_ > slots_.size()) grow();
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::size_t node = 0;  // 0: empty, else node + 1
  };
  // The slots, zeroed. A big table is probed at random, one probe per
  // insert: on 2 MiB pages (where the kernel has them) each probe costs a
  // cache miss but not also a TLB miss.
  class Slots {
   public:
    explicit Slots(std::size_t n) : n_(n) {
      const std::size_t bytes = n * sizeof(Slot);
      if (bytes >= kHuge) {
        p_ = static_cast<Slot*>(std::aligned_alloc(kHuge, bytes));
#ifdef MADV_HUGEPAGE
        if (p_) ::madvise(p_, bytes, MADV_HUGEPAGE);
#endif
      } else {
        p_ = static_cast<Slot*>(std::malloc(bytes));
      }
      if (!p_) throw std::bad_alloc();
      std::memset(static_cast<void*>(p_), 0, bytes);
    }
    Slots(const Slots&) = delete;
    Slots& operator=(Slots&& o) noexcept {
      std::swap(p_, o.p_);
      std::swap(n_, o.n_);
      return *this;
    }
    ~Slots() { std::free(p_); }
    std::size_t size() const { return n_; }
    Slot& operator[](std::size_t i) { return p_[i]; }
    const Slot* begin() const { return p_; }
    const Slot* end() const { return p_ + n_; }

   private:
    static constexpr std::size_t kHuge = std::size_t{2} << 20;
    Slot* p_ = nullptr;
    std::size_t n_;
  };
  void grow() {
    Slots bigger(2 * slots_.size());
    for (const Slot& s : slots_) {
      if (s.node == 0) continue;
      std::size_t i = s.hash & (bigger.size() - 1);
      while (bigger[i].node != 0) i = (i + 1) & (bigger.size() - 1);
      bigger[i] = s;
    }
    slots_ = std::move(bigger);
  }

  std::uint64_t hash(const DoneSet& done, const State& s) const {
    return mix64(model_.hash(s) * 0x9e3779b97f4a7c15ull ^ done.hash());
  }

  const Model& model_;
  std::vector<std::uint64_t> key_;       // scratch: the key being looked up
  std::deque<State> states_;
  std::vector<std::uint64_t> pool_;      // node k's key: pool_[ends_[k], ends_[k + 1])
  std::vector<std::size_t> ends_ = {0};
  std::size_t size_ = 0;                 // nodes
  Slots slots_;                          // a power of two, at most half full
};

// Whether the model says which operations leave every state as it was.
template <class Model>
concept HasReadOnly = requires(const Model& m, const typename Model::Input& in, const typename Model::Output* out) {
  { m.read_only(in, out) } -> std::convertible_to<bool>;
};

// Whether the model gives hints for the order of the search.
template <class Model>
concept HasToward = requires(const Model& m, const typename Model::State& s, const typename Model::Input& in,
                             const typename Model::Output& seen) {
  { m.toward(s, in, seen) } -> std::convertible_to<bool>;
};

// Whether the model can tell reads that can no longer see what they saw.
template <class Model>
concept HasReachable = requires(const Model& m, const typename Model::State& s, const typename Model::Input& in,
                                const typename Model::Output& seen, const typename Model::Output* out) {
  { m.reachable(s, in, seen) } -> std::convertible_to<bool>;
  { m.monotone(in, out) } -> std::convertible_to<bool>;
};

// Whether the model says which operations set the state whatever it was.
template <class Model>
concept HasResets = requires(const Model& m, const typename Model::Input& in, const typename Model::Output* out) {
  { m.resets(in, out) } -> std::convertible_to<bool>;
};

// One history's search, run in slices (run()), so that a caller can bound
// it in time and interleave several.
template <class Model>
class Search {
 public:
  using State = typename Model::State;
  using History = std::vector<Op<typename Model::Input, typename Model::Output>>;

  // The model, the initial state and the history must outlive the search.
  // With `hints`, a node tries the operations the model's toward() hints
  // at before the others (when the model has toward()).
  Search(const Model& model, const State& initial, const History& history, std::uint64_t max_memo_bytes,
         bool hints)
      : model_(model), history_(history), n_(history.size()), max_memo_bytes_(max_memo_bytes),
        hints_(hints && HasToward<Model>), done_(n_), state_(&initial) {
    sequential_ = true;
    for (std::size_t i = 0; i < n_ && sequential_; ++i)
      sequential_ = history[i].responded && (i + 1 == n_ || history[i].ret < history[i + 1].call);
    if (sequential_) return;
    link();
    // The stack is as deep as the history is long, at most; the others
    // grow with the concurrency. Reserved so that they are not regrown in
    // every search.
    stack_.reserve(std::min<std::size_t>(n_, 4096));
    cands_.reserve(64);
    pending_.reserve(hints_ ? 64 : 0);
    unguided_.reserve(hints_ ? 64 : 0);
    read_only_.assign(n_, 0);
    if constexpr (HasReadOnly<Model>) {
      for (std::size_t i = 0; i < n_; ++i)
        read_only_[i] = model.read_only(history[i].input, output_of(i));
    }
    if constexpr (HasReachable<Model>) {
      for (std::size_t i = 0; i < n_; ++i) {
        if (model.monotone(history[i].input, output_of(i))) continue;
        unmonotone_.push_back({rank_[i], std::nullopt});
        if constexpr (HasResets<Model>) {
          if (model.resets(history[i].input, output_of(i))) unmonotone_.back().reset_to = step(initial, i);
        }
      }
      std::sort(unmonotone_.begin(), unmonotone_.end(),
                [](const Unmonotone& a, const Unmonotone& b) { return a.rank < b.rank; });
    }
  }

  // Runs up to `steps` more steps; true once the verdict is in result()
  // (kUnknown only when the memo outgrew max_memo_bytes).
  bool run(std::uint64_t steps);
  Result& result() { return result_; }
  std::uint64_t states() const { return result_.states; }

 private:
  static constexpr std::size_t kEnd = SIZE_MAX;
  // Events: 0 is the head sentinel, 1 + 2i is op i's call, 2 + 2i its
  // return.
  static bool is_call(std::size_t e) { return e & 1; }
  static std::size_t op_of(std::size_t e) { return (e - 1) / 2; }
  // The states of the nodes on the stack are in path_ (a read's node shares
  // its parent's), where they do not move, so the search and its stack
  // hold pointers: no state is copied after step().
  // A frame is a node's choice, with what the node needs to go on after it.
  struct Frame {
    std::size_t call_event;
    const State* before;
    bool forced;                // the node had no other choice: a read it accepted, or a lone candidate
    bool owns;                  // the new node's state is path_.back(); unless forced, it goes into the memo once its search fails
    std::size_t pending_begin;  // the node's pending reads: pending_[pending_begin, the next node's)
    std::size_t cand_begin;     // the node's candidates: cands_[cand_begin, the next node's)
    std::size_t cand_next;      // the node's next candidate to try
  };

  void link();
  bool replay(std::uint64_t steps);
  bool back();
  void probe();
  // Op's recorded output, or null when its outcome is unknown (any will do).
  const typename Model::Output* output_of(std::size_t op) const {
    return history_[op].responded ? &history_[op].output : nullptr;
  }
  // The state after op on s, if the model accepts it there.
  std::optional<State> step(const State& s, std::size_t op) const {
    return model_.step(s, history_[op].input, output_of(op));
  }
  void unlink(std::size_t e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != kEnd) prev_[next_[e]] = prev_[e];
  }
  void relink(std::size_t e) {  // undoes unlink(e), in reverse order of the unlinks
    next_[prev_[e]] = e;
    if (next_[e] != kEnd) prev_[next_[e]] = e;
  }
  // The memory the memo and the stack's states hold (their heap data not
  // counted): what max_memo_bytes bounds.
  std::size_t memo_bytes() const {
    return (seen_ ? seen_->bytes() : 0) + path_.size() * sizeof(State);
  }
  bool finish(Verdict v) {
    result_.verdict = v;
    finished_ = true;
    return true;
  }
  // Linearizes the operation whose call is `call_event` (done_ holds it
  // already), at this node, into state `after`, which goes on path_: a new
  // node, not yet walked. A node reached by a choice among others is
  // remembered once its search fails (Memo); one reached by the only
  // choice need not be: no other order reaches it from here, and a pair
  // reached again from another node costs those steps again, and the memo
  // stops it at the next real choice.
  void push(std::size_t call_event, State&& after, bool forced) {
    if (path_.capacity() == 0) path_.reserve(n_);  // never more: an operation is on the path once
    path_.push_back(std::move(after));
    stack_.push_back({call_event, state_, forced, true, pending_begin_, cand_begin_, cand_next_});
    enter(call_event, &path_.back());
    pending_begin_ = pending_.size();
    cand_begin_ = cand_next_ = cands_.size();
    walk_from_ = 0;
  }
  // Takes `call_event`'s operation, the only choice this node has: the node
  // fails if it does. True once the verdict is in.
  bool take_only(std::size_t call_event) {
    const std::size_t op = op_of(call_event);
    if (std::optional<State> after = step(*state_, op)) {
      done_.set(rank_[op]);
      push(call_event, std::move(*after), true);
      return false;
    }
    return back();
  }
  // Linearizes the read whose call is `call_event`, met by this node's walk
  // and accepted by its state (done_ holds it already): a forced frame
  // whose node, in the same state, goes on with the walk where this one
  // stopped.
  void push_read(std::size_t call_event) {
    const std::size_t ret = call_event + 1;
    const std::size_t resume = next_[call_event] == ret ? next_[ret] : next_[call_event];
    stack_.push_back({call_event, state_, true, false, pending_begin_, cand_begin_, cand_next_});
    enter(call_event, state_);
    walk_from_ = resume;
  }
  void enter(std::size_t call_event, const State* after) {
    state_ = after;
    unlink(call_event);
    unlink(call_event + 1);  // its return
    if (stack_.size() > deepest_) {
      deepest_ = stack_.size();
      deepest_unsaved_ = true;
    }
    fresh_ = true;
  }
  // Whether read-only `op`, reached by this node and not accepted by its
  // state, can never be. It must be placed before it returns, so after
  // operations called before that only (the ones whose call comes first
  // in the event order), on the state they lead to from this node's. If
  // those that are not monotone all reset the state, that is a state
  // monotone operations lead to from this node's or from one of theirs;
  // when the model says op cannot be reached from any of those, the node
  // has no linearization.
  bool lost(std::size_t op) const {
    if constexpr (HasReachable<Model>) {
      const auto& o = history_[op];
      if (!o.responded || model_.reachable(*state_, o.input, o.output)) return false;
      // The operations not monotone and not linearized, by call: every rank
      // below done_.low() is linearized.
      auto it = std::lower_bound(unmonotone_.begin(), unmonotone_.end(), done_.low(),
                                 [](const Unmonotone& u, std::size_t rank) { return u.rank < rank; });
      for (; it != unmonotone_.end() && call_pos_[it->rank] < ret_pos_[op]; ++it) {
        if (done_.test(it->rank)) continue;
        if (!it->reset_to || model_.reachable(*it->reset_to, o.input, o.output)) return false;
      }
      return true;
    }
    return false;
  }
  // Whether the model hints that `op` on this node's state is a step toward
  // what one of the node's pending reads saw.
  bool guided(std::size_t op) const {
    if constexpr (HasToward<Model>) {
      if (!hints_) return false;
      for (std::size_t i = pending_begin_; i < pending_.size(); ++i)
        if (model_.toward(*state_, history_[op].input, history_[pending_[i]].output)) return true;
    }
    return false;
  }

  const Model& model_;
  const History& history_;
  const std::size_t n_;
  const std::uint64_t max_memo_bytes_;
  const bool hints_;
  // The events, linked in time order.
  std::vector<std::size_t> next_, prev_;
  std::vector<std::size_t> rank_;  // op -> rank by call time
  std::vector<char> read_only_;
  // With the model's reachable(): the operations that are not monotone, by
  // rank, each with the state it resets to (with the model's resets();
  // nullopt: it is not known to reset, or step() refused it on the initial
  // state); the place of each rank's call and each op's return in the time
  // order of events.
  struct Unmonotone {
    std::size_t rank;
    std::optional<State> reset_to;
  };
  std::vector<Unmonotone> unmonotone_;
  std::vector<std::size_t> call_pos_, ret_pos_;
  DoneSet done_;
  // Made when a first pair goes in: a search that never backs out of a
  // choice never needs the memo, and a short one is checked in the time it
  // would take to make.
  std::optional<Memo<Model>> seen_;
  std::vector<Frame> stack_;
  // The states of the frames that own one (Frame::owns), in stack order:
  // reserved for every operation at once, so they never move.
  std::vector<State> path_;
  const State* state_;
  // A node walks the operations it can reach once (fresh_: not yet), up to
  // the first return. Read-only operations are never a choice: one the
  // state accepts is linearized first and alone (a forced frame), and if
  // that fails the node fails. Moving such an operation back to the node
  // is always possible: it changes no state, and every operation that must
  // precede it (returned before its call) is linearized already, or the
  // search would not have reached its call. The others are the node's
  // candidates, tried in call order, those the model hints at (toward())
  // first.
  bool fresh_ = true;
  std::size_t walk_from_ = 0;  // where a fresh node's walk starts: 0, the head; else its parent's read's successor
  std::vector<std::size_t> cands_;  // call events; each node's after its parent's
  std::vector<std::size_t> unguided_;  // scratch: the candidates not hinted at
  std::size_t cand_begin_ = 0, cand_next_ = 0;
  // The read-only operations with a recorded output that the nodes on the
  // stack reached and have not placed, each node's after its parent's: what
  // the hints steer toward (kept only with hints_).
  std::vector<std::size_t> pending_;
  std::size_t pending_begin_ = 0;
  // The longest partial order found, as a DoneSet key: taken when the
  // search first backs out of a new greatest depth, so it costs the size
  // of the frontier, not of the history, and only when it backtracks.
  std::size_t deepest_ = 0;
  bool deepest_unsaved_ = false;
  std::size_t probed_ = 0;  // the greatest depth probe() ran at
  std::vector<std::uint64_t> deepest_key_ = {0};
  bool finished_ = false;
  Result result_;
  // A history in which every operation returns before the next is called
  // has one order, the history's own: it is replayed (replay()), with
  // none of the above.
  bool sequential_ = false;
  std::size_t replayed_ = 0;  // operations replayed
  std::optional<State> now_;  // the state after them (none yet: the initial)
};

// Sorts v (ascending runs, as recorded histories come) with `spare` as
// scratch: a sorted v costs one pass; a few runs (each client's operations,
// one client after the other) are merged pairwise, a pass per doubling of
// the run length; many runs (returns, a few out of place by a little) are
// insertion-sorted while that moves little, else sorted.
template <class K>
void sort_runs(std::vector<K>& v, std::vector<K>& spare) {
  std::size_t runs = 1;
  for (std::size_t i = 1; i < v.size(); ++i) runs += v[i] < v[i - 1];
  if (runs <= 1) return;
  if (runs > 32) {
    std::size_t moves = 0;
    for (std::size_t i = 1; i < v.size(); ++i) {
      const K k = v[i];
      std::size_t j = i;
      for (; j > 0 && k < v[j - 1]; --j) v[j] = v[j - 1];
      v[j] = k;
      if ((moves += i - j) > 8 * v.size()) {
        std::sort(v.begin(), v.end());
        return;
      }
    }
    return;
  }
  spare.resize(v.size());
  std::vector<std::size_t> starts;  // each ascending run's first index
  for (std::size_t i = 0; i < v.size(); ++i)
    if (i == 0 || v[i] < v[i - 1]) starts.push_back(i);
  while (starts.size() > 1) {
    std::vector<std::size_t> merged;
    for (std::size_t r = 0; r < starts.size(); r += 2) {
      const std::size_t a = starts[r], b = r + 1 < starts.size() ? starts[r + 1] : v.size();
      const std::size_t c = r + 2 < starts.size() ? starts[r + 2] : v.size();
      std::merge(v.begin() + static_cast<std::ptrdiff_t>(a), v.begin() + static_cast<std::ptrdiff_t>(b),
                 v.begin() + static_cast<std::ptrdiff_t>(b), v.begin() + static_cast<std::ptrdiff_t>(c),
                 spare.begin() + static_cast<std::ptrdiff_t>(a));
      merged.push_back(a);
    }
    v.swap(spare);
    starts.swap(merged);
  }
}

template <class Model>
void Search<Model>::link() {
  // The events in time order: by time, calls before returns at equal times
  // (such operations overlap), then by operation: a total order, so the
  // search is deterministic. The returns of operations with unknown
  // outcomes come last, by operation; they are kept apart, so that they do
  // not scatter the others' runs. Calls and returns are sorted apart, then
  // merged, each event as one integer when the times allow (time since the
  // first call, a return bit, the operation), else as a pair.
  constexpr bool kPlaces = HasReachable<Model>;
  next_.assign(2 * n_ + 1, kEnd);
  prev_.assign(2 * n_ + 1, 0);
  rank_.resize(n_);
  if (kPlaces) {
    call_pos_.resize(n_);
    ret_pos_.resize(n_);
  }
  std::vector<std::size_t> unknown;  // ops
  std::size_t pos = 0, last = 0, rank = 0;
  auto place = [&](std::size_t op, bool call) {
    const std::size_t e = call ? 1 + 2 * op : 2 + 2 * op;
    next_[last] = e;
    prev_[e] = last;
    last = e;
    if (call) {
      rank_[op] = rank;
      if (kPlaces) call_pos_[rank] = pos;
      ++rank;
    } else if (kPlaces) {
      ret_pos_[op] = pos;
    }
    ++pos;
  };
  // Sorts calls and returns apart (call_key and return_key make an op's
  // sort keys, op_of_key reads a key's op), then merges them.
  auto sort_and_merge = [&](auto& calls, auto& returns, auto& spare, auto call_key, auto return_key, auto op_of_key) {
    calls.resize(n_);
    returns.resize(n_);
    std::size_t responded = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      calls[i] = call_key(i);
      if (history_[i].responded) {
        returns[responded++] = return_key(i);
      } else {
        unknown.push_back(i);
      }
    }
    returns.resize(responded);
    sort_runs(calls, spare);
    sort_runs(returns, spare);
    std::size_t a = 0, b = 0;
    while (a < calls.size() || b < returns.size()) {
      const bool call = b == returns.size() || (a < calls.size() && calls[a] < returns[b]);
      place(op_of_key(call ? calls[a++] : returns[b++]), call);
    }
    for (std::size_t op : unknown) place(op, false);
  };
  std::uint64_t first = UINT64_MAX, end = 0;
  for (const auto& o : history_) {
    first = std::min({first, o.call, o.responded ? o.ret : o.call});
    end = std::max(end, o.responded ? o.ret : o.call);
  }
  const int op_bits = std::bit_width(n_);
  if (n_ == 0 || std::bit_width(end - first) + op_bits + 1 <= 64) {
    // Kept per thread (up to kKeep keys each): a search is set up for
    // every part checked, and these were allocated each time.
    constexpr std::size_t kKeep = std::size_t{1} << 16;
    thread_local std::vector<std::uint64_t> calls, returns, spare;
    const std::uint64_t ret_bit = std::uint64_t{1} << op_bits;
    sort_and_merge(
        calls, returns, spare, [&](std::size_t i) { return (history_[i].call - first) << (op_bits + 1) | i; },
        [&](std::size_t i) { return (history_[i].ret - first) << (op_bits + 1) | ret_bit | i; },
        [mask = ret_bit - 1](std::uint64_t k) { return static_cast<std::size_t>(k & mask); });
    if (calls.capacity() > kKeep || spare.capacity() > kKeep)
      for (auto* v : {&calls, &returns, &spare}) std::vector<std::uint64_t>().swap(*v);
    return;
  }
  struct Key {
    std::uint64_t time;
    std::uint64_t tie;  // bit 63: a return; low bits: the op
    bool operator<(const Key& o) const { return time != o.time ? time < o.time : tie < o.tie; }
  };
  constexpr std::uint64_t kReturn = std::uint64_t{1} << 63;
  std::vector<Key> calls, returns, spare;
  sort_and_merge(
      calls, returns, spare, [&](std::size_t i) { return Key{history_[i].call, i}; },
      [&](std::size_t i) { return Key{history_[i].ret, kReturn | i}; },
      [](const Key& k) { return static_cast<std::size_t>(k.tie & ~kReturn); });
}

template <class Model>
bool Search<Model>::replay(std::uint64_t steps) {
  for (; steps > 0 && replayed_ < n_; --steps, ++replayed_) {
    ++result_.states;
    std::optional<State> after = step(now_ ? *now_ : *state_, replayed_);
    if (!after) {
      // The operations before it are the longest partial order, as the
      // search would have found it.
      result_.deepest.assign(n_, false);
      std::fill_n(result_.deepest.begin(), replayed_, true);
      return finish(Verdict::kNotLinearizable);
    }
    now_ = std::move(after);
  }
  if (replayed_ < n_) return false;
  result_.order.resize(n_);
  for (std::size_t i = 0; i < n_; ++i) result_.order[i] = i;
  return finish(Verdict::kLinearizable);
}

template <class Model>
bool Search<Model>::run(std::uint64_t steps) {
  if (finished_) return true;
  if (sequential_) return replay(steps);
  for (; steps > 0; --steps) {
    if ((++result_.states & 255) == 0 && memo_bytes() > max_memo_bytes_) return finish(Verdict::kUnknown);
    if (fresh_) {
      fresh_ = false;
      std::size_t e = walk_from_ == 0 ? next_[0] : walk_from_;
      if (e != kEnd && e == next_[0] && is_call(e) && next_[e] == e + 1 && !read_only_[op_of(e)] &&
          history_[op_of(e)].responded) {
        // The node can take this operation only: it returns before any
        // other is called (one whose outcome is unknown may also never
        // take effect, which the walk below allows for).
        if (take_only(e)) return true;
        continue;
      }
      bool left = false;  // the node, for a forced read or for good
      for (; e != kEnd && is_call(e); e = next_[e]) {
        const std::size_t op = op_of(e);
        if (!read_only_[op]) {
          cands_.push_back(e);
          continue;
        }
        if (hints_ && history_[op].responded) pending_.push_back(op);
        if (step(*state_, op)) {
          // The state stays, so there is nothing for the memo to learn: a
          // pair after the read is the pair before it plus one read that
          // had to come first. The node after it is this one without the
          // read: its walk goes on from here, with the candidates and
          // pending reads found so far (the frame is forced, so this node
          // never needs them again on its own).
          if (hints_ && history_[op].responded) pending_.pop_back();
          done_.set(rank_[op]);
          push_read(e);
          left = true;
          break;
        }
        if (lost(op)) {  // the node has no future
          if (stack_.size() > probed_) probe();
          if (back()) return true;
          left = true;
          break;
        }
      }
      if (left) continue;
      if (e == kEnd || !history_[op_of(e)].responded) {
        // Everything is linearized, or only operations with unknown
        // outcomes are left (their returns sort last): they never took
        // effect.
        for (const Frame& f : stack_) result_.order.push_back(op_of(f.call_event));
        return finish(Verdict::kLinearizable);
      }
      if (cands_.size() == cand_begin_ + 1) {
        // One candidate: the operation whose return ends the walk is it or
        // a read this state does not accept, so every order from here
        // takes it next.
        const std::size_t c = cands_.back();
        cands_.pop_back();
        if (take_only(c)) return true;
        continue;
      }
      if (pending_begin_ < pending_.size()) {  // the hinted first, each group in call order
        unguided_.clear();
        std::size_t w = cand_begin_;
        for (std::size_t i = cand_begin_; i < cands_.size(); ++i) {
          if (guided(op_of(cands_[i]))) {
            cands_[w++] = cands_[i];
          } else {
            unguided_.push_back(cands_[i]);
          }
        }
        std::copy(unguided_.begin(), unguided_.end(), cands_.begin() + static_cast<std::ptrdiff_t>(w));
      }
      continue;
    }
    if (cand_next_ == cands_.size()) {  // every candidate tried
      if (back()) return true;
      continue;
    }
    const std::size_t e = cands_[cand_next_++];
    const std::size_t op = op_of(e);
    if (std::optional<State> after = step(*state_, op)) {
      done_.set(rank_[op]);
      if (!seen_ || !seen_->contains(done_, *after)) {
        push(e, std::move(*after), false);
        continue;
      }
      done_.clear(rank_[op]);
    }
  }
  return false;
}

// A node given up early (lost()) would have been searched deeper: the
// operations its state accepts, taken in time order until a return whose
// operation is not placed, are a longer partial order, and the report of
// a violation (Result::deepest) is the more telling for it. So they are
// placed here, on copies, for the record only.
template <class Model>
void Search<Model>::probe() {
  probed_ = stack_.size();
  std::vector<std::size_t> placed;  // ranks
  std::optional<State> now;
  for (std::size_t e = next_[0]; e != kEnd; e = next_[e]) {
    const std::size_t op = op_of(e);
    if (!is_call(e)) {
      if (!history_[op].responded) break;
      if (std::find(placed.begin(), placed.end(), rank_[op]) == placed.end()) break;
      continue;
    }
    if (std::optional<State> after = step(now ? *now : *state_, op)) {
      now = std::move(after);
      placed.push_back(rank_[op]);
    }
  }
  if (stack_.size() + placed.size() <= deepest_) return;
  deepest_ = stack_.size() + placed.size();
  for (std::size_t r : placed) done_.set(r);
  deepest_key_.clear();
  done_.key(deepest_key_);
  for (std::size_t r : placed) done_.clear(r);
  deepest_unsaved_ = false;
}

// Undoes the last choice, and the forced frames above it; true when there
// is none left to undo (the verdict is in).
template <class Model>
bool Search<Model>::back() {
  if (deepest_unsaved_) {
    deepest_key_.clear();
    done_.key(deepest_key_);
    deepest_unsaved_ = false;
  }
  for (bool forced = true; forced;) {
    if (stack_.empty()) {
      result_.deepest.resize(n_);
      for (std::size_t i = 0; i < n_; ++i) result_.deepest[i] = DoneSet::in_key(deepest_key_, rank_[i]);
      return finish(Verdict::kNotLinearizable);
    }
    const Frame f = stack_.back();
    stack_.pop_back();
    if (f.owns) {
      if (!f.forced) {  // a choice among others, whose search failed
        if (!seen_) seen_.emplace(model_);
        seen_->insert(done_, std::move(path_.back()));
      }
      path_.pop_back();
    }
    relink(f.call_event + 1);
    relink(f.call_event);
    done_.clear(rank_[op_of(f.call_event)]);
    state_ = f.before;
    pending_.resize(pending_begin_);
    pending_begin_ = f.pending_begin;
    cands_.resize(cand_begin_);
    cand_begin_ = f.cand_begin;
    cand_next_ = f.cand_next;
    fresh_ = false;
    forced = f.forced;
  }
  return false;
}

// Steps a search runs between looks at the clock and at the other parts.
inline constexpr std::uint64_t kSlice = 1 << 14;
// How many steps the unhinted search of a part starts behind the hinted.
inline constexpr std::uint64_t kHeadStart = 4 * kSlice;
// How long check_parts() works on the calling thread alone.
inline constexpr std::chrono::milliseconds kAloneFor{1};

}  // namespace detail

// The verdicts of a history split in independent parts (P-compositionality,
// see partition()): linearizable iff every part is.
struct PartsResult {
  Verdict verdict = Verdict::kLinearizable;  // the worst: kNotLinearizable, then kUnknown
  // Each part's result. After a part is refuted the others stop where they
  // are: kUnknown, with `stopped` set.
  std::vector<Result> parts;
  std::vector<bool> stopped;
  std::size_t refuted = SIZE_MAX;  // kNotLinearizable: the part refuted first
  std::uint64_t states = 0;        // over all parts
};

// Checks every part, on up to `threads` threads (0: one per core), the
// parts that have searched least first: a part runs a slice of its search,
// then goes back to the pool, and a free thread takes the part with the
// fewest states searched so far. So the cheap parts finish first without
// knowing in advance which they are, and a refuted part ends every other
// search. `budget` and `max_memo_bytes` bound each part on its own, as
// check() does: a part's budget counts only the time its own slices ran.
// With threads == 1 the order of the slices, and so the result, is
// deterministic; with more, when several parts are not linearizable, which
// of them is refuted first may vary from run to run (the verdict does not).
// The parts are pointed to, so a caller's own records need no copy.
template <class Model>
PartsResult check_parts(const Model& model, const typename Model::State& initial,
                        const std::vector<const std::vector<Op<typename Model::Input, typename Model::Output>>*>& parts,
                        std::chrono::milliseconds budget, std::uint64_t max_memo_bytes = UINT64_MAX,
                        unsigned threads = 0) {
  using Clock = std::chrono::steady_clock;
  // A part is searched twice, when the model gives hints: in the order they
  // suggest, and in call order. Each is exact, so the first verdict is the
  // part's; hints that lead astray then cost at most the other search's
  // time again, never more. The two share the part's memory bound.
  constexpr std::size_t kWays = detail::HasToward<Model> ? 2 : 1;
  struct Unit {
    std::size_t part;
    bool hints;
    std::unique_ptr<detail::Search<Model>> search;  // made by its first slice
    std::uint64_t states = 0;
    bool running = false, over = false;
  };
  struct Part {
    Clock::duration ran{};  // both searches' slices
    std::uint64_t states = 0;
    std::size_t left = 0;  // searches that may still decide
    bool over = false;
  };
  PartsResult out;
  const std::size_t n = parts.size();
  out.parts.resize(n);
  out.stopped.assign(n, false);
  if (n == 0) return out;
  std::vector<Unit> units;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t w = 0; w < kWays; ++w) units.push_back({i, w == 0, nullptr});
  std::vector<Part> state(n);
  for (Part& p : state) p.left = kWays;
  std::mutex mu;
  bool refuted = false;  // guarded by mu
  // Asked once: glibc reads it from /sys on every call.
  static const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t count = std::min<std::size_t>(units.size(), threads == 0 ? hw : threads);
  std::vector<std::thread> pool;  // the calling thread's only
  const auto start = Clock::now();
  std::function<void(bool)> worker = [&](bool caller) {
    std::unique_lock<std::mutex> lock(mu);
    while (!refuted) {
      std::size_t pick = SIZE_MAX;
      // The search in call order starts kHeadStart steps behind, so that a
      // part the hints decide quickly is searched once.
      auto due = [&](const Unit& c) { return c.states + (c.hints || kWays == 1 ? 0 : detail::kHeadStart); };
      for (std::size_t u = 0; u < units.size(); ++u) {
        const Unit& c = units[u];
        if (c.running || c.over || state[c.part].over) continue;
        if (pick == SIZE_MAX || due(c) < due(units[pick]) ||
            (due(c) == due(units[pick]) && parts[c.part]->size() < parts[units[pick].part]->size()))
          pick = u;
      }
      if (pick == SIZE_MAX) return;  // the rest are running on other threads
      Unit& u = units[pick];
      Part& p = state[u.part];
      u.running = true;
      lock.unlock();
      const auto t0 = Clock::now();
      if (!u.search)
        u.search =
            std::make_unique<detail::Search<Model>>(model, initial, *parts[u.part], max_memo_bytes / kWays, u.hints);
      const std::uint64_t before = u.search->states();
      const bool finished = u.search->run(detail::kSlice);
      const auto t1 = Clock::now();
      // The other threads start only once the work has lasted: most
      // histories are checked before a thread could have started.
      if (caller && pool.empty() && count > 1 && t1 - start > detail::kAloneFor)
        for (std::size_t t = 1; t < count; ++t) pool.emplace_back([&worker] { worker(false); });
      lock.lock();
      u.running = false;
      u.states = u.search->states();
      p.states += u.states - before;
      p.ran += t1 - t0;
      if (p.over) {  // the other search decided meanwhile
        u.over = true;
        u.search.reset();
        continue;
      }
      if (finished && u.search->result().verdict == Verdict::kUnknown) {  // out of memory
        u.over = true;
        u.search.reset();
        if (--p.left > 0) continue;
      }
      if (finished || p.left == 0 || p.ran > budget) {
        p.over = true;
        if (finished && u.search) {
          out.parts[u.part] = std::move(u.search->result());
          if (out.parts[u.part].verdict == Verdict::kNotLinearizable && !refuted) {
            refuted = true;
            out.refuted = u.part;
          }
        } else {
          out.parts[u.part] = Result{Verdict::kUnknown, {}, {}, 0};
        }
        for (Unit& other : units)
          if (other.part == u.part && !other.running) {
            other.over = true;
            other.search.reset();
          }
      }
    }
  };
  worker(true);
  for (std::thread& t : pool) t.join();
  for (std::size_t i = 0; i < n; ++i) {
    if (!state[i].over) {
      out.stopped[i] = true;
      out.parts[i] = Result{Verdict::kUnknown, {}, {}, 0};
    }
    out.parts[i].states = state[i].states;
    out.states += state[i].states;
    if (out.parts[i].verdict == Verdict::kUnknown && out.verdict == Verdict::kLinearizable)
      out.verdict = Verdict::kUnknown;
  }
  if (refuted) out.verdict = Verdict::kNotLinearizable;
  return out;
}

// The same, for parts held in one vector.
template <class Model>
PartsResult check_parts(const Model& model, const typename Model::State& initial,
                        const std::vector<std::vector<Op<typename Model::Input, typename Model::Output>>>& parts,
                        std::chrono::milliseconds budget, std::uint64_t max_memo_bytes = UINT64_MAX,
                        unsigned threads = 0) {
  std::vector<const std::vector<Op<typename Model::Input, typename Model::Output>>*> each;
  for (const auto& part : parts) each.push_back(&part);
  return check_parts(model, initial, each, budget, max_memo_bytes, threads);
}

template <class Model>
Result check(const Model& model, const typename Model::State& initial,
             const std::vector<Op<typename Model::Input, typename Model::Output>>& history,
             std::chrono::milliseconds budget, std::uint64_t max_memo_bytes = UINT64_MAX) {
  return std::move(check_parts(model, initial, {&history}, budget, max_memo_bytes, 1).parts[0]);
}

// The window to show for a violation ("the minimal non-linearizable
// window" of the text report and of lincheck/timeline.h's page): per client
// (in order of client id), the indices of its last operation the deepest
// partial order placed, the first it could not place, and the one after
// that. `placed` is Result::deepest. Clients with every operation placed
// are left out.
template <class In, class Out>
std::vector<std::pair<int, std::vector<std::size_t>>> window(const std::vector<Op<In, Out>>& history,
                                                             const std::vector<bool>& placed) {
  std::map<int, std::vector<std::size_t>> by_client;
  for (std::size_t i = 0; i < history.size(); ++i) by_client[history[i].client].push_back(i);
  std::vector<std::pair<int, std::vector<std::size_t>>> out;
  for (const auto& [client, ops] : by_client) {
    std::size_t first = 0;
    while (first < ops.size() && placed[ops[first]]) ++first;
    if (first == ops.size()) continue;
    std::vector<std::size_t> around;
    for (std::size_t k = first == 0 ? 0 : first - 1; k < std::min(ops.size(), first + 2); ++k)
      around.push_back(ops[k]);
    out.push_back({client, std::move(around)});
  }
  return out;
}

// The history split by key(op), each part in its original order, keys in
// order of first appearance (for any record type T: lin::Op, or a user's).
template <class T, class Key>
std::vector<std::pair<Key, std::vector<T>>> partition(const std::vector<T>& history,
                                                      const std::function<Key(const T&)>& key) {
  std::vector<std::pair<Key, std::vector<T>>> parts;
  std::map<Key, std::size_t> where;
  for (const T& op : history) {
    const Key k = key(op);
    auto [it, fresh] = where.try_emplace(k, parts.size());
    if (fresh) parts.push_back({k, {}});
    parts[it->second].second.push_back(op);
  }
  return parts;
}

}  // namespace mmv::lin
