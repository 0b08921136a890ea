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
//
// The search is Lowe's just-in-time linearization as Porcupine implements
// it: call and return events in one time-ordered, doubly linked list; an
// operation is tried when its call is reached, and lifted out of the list
// (call and return) when the model accepts it; reaching a return whose
// operation is not yet linearized means backtracking. Linearized operations
// are a bitset over their ranks by call time, and a (set, state) pair seen
// before is never searched again (hash, then equality on a collision); the
// memo keys a set by its first missing rank and the ranks above it, which
// keeps a node small however long the history. The search is bounded in
// time, and optionally in the memory the memo holds: past either the
// verdict is kUnknown, never a guess.
//
// Operations with an unknown outcome (no response: a call that crashed or
// timed out, Jepsen's :info) return "at infinity": they may take effect at
// any point after their call, or never.
//
// P-compositionality (Horn & Kroening): when the model's operations on
// different keys are independent, a history is linearizable iff each key's
// sub-history is; partition() splits a history by key, to check each part.
//
// Thread safety: none needed; a check is a pure function of its arguments.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
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
  std::uint64_t states = 0;        // search steps: (linearized set, state) pairs tried
};

namespace detail {

// The set of linearized operations, over their ranks by call time. Its key
// (what the memo stores) is small however long the history: `low`, the
// first rank not linearized (every rank below it is), then the linearized
// ranks above it, which only the operations around the search's frontier
// can be.
class DoneSet {
 public:
  explicit DoneSet(std::size_t n) : n_(n), bits_((n + 63) / 64, 0) {}

  bool test(std::size_t r) const { return (bits_[r / 64] >> (r % 64)) & 1; }
  void set(std::size_t r) {
    bits_[r / 64] |= std::uint64_t{1} << (r % 64);
    high_ = std::max(high_, r + 1);
    while (low_ < n_ && test(low_)) ++low_;
  }
  void clear(std::size_t r) {
    bits_[r / 64] &= ~(std::uint64_t{1} << (r % 64));
    low_ = std::min(low_, r);
    while (high_ > low_ && !test(high_ - 1)) --high_;
    high_ = std::max(high_, low_);
  }
  // Appends the key: low, then each linearized rank above it.
  void key(std::vector<std::uint32_t>& out) const {
    out.push_back(static_cast<std::uint32_t>(low_));
    for (std::size_t w = low_ / 64; w * 64 < high_; ++w) {
      std::uint64_t bits = bits_[w];
      if (w == low_ / 64) bits &= ~std::uint64_t{0} << (low_ % 64);
      while (bits) {
        out.push_back(static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits))));
        bits &= bits - 1;
      }
    }
  }
  // Whether rank r is in the set whose key is `k`.
  static bool in_key(const std::vector<std::uint32_t>& k, std::size_t r) {
    return r < k[0] || std::binary_search(k.begin() + 1, k.end(), static_cast<std::uint32_t>(r));
  }

 private:
  std::size_t n_;
  std::vector<std::uint64_t> bits_;
  std::size_t low_ = 0;   // the first rank not in the set
  std::size_t high_ = 0;  // one past the highest rank in the set (>= low_)
};

// The (linearized set, state) pairs searched so far: open addressing on
// their hash, with equality on a hash hit. The nodes are appended in order:
// states to a deque, so the pointers the search holds stay valid, and the
// set keys to one flat pool, so a node costs no allocation of its own.
template <class Model>
class Memo {
 public:
  using State = typename Model::State;

  explicit Memo(const Model& model) : model_(model), slots_(1024, 0) {}

  // About the memory held (a state's own heap data not counted).
  std::size_t bytes() const {
    return hashes_.size() * (sizeof(State) + 3 * sizeof(std::size_t)) + pool_.size() * sizeof(std::uint32_t) +
           slots_.size() * sizeof(std::size_t);
  }

  // The stored state for (done, s), and whether it was new (s is moved in).
  std::pair<const State*, bool> insert(const DoneSet& done, State&& s) {
    key_.clear();
    done.key(key_);
    const std::size_t h = hash(s);
    std::size_t i = h & (slots_.size() - 1);
    for (; slots_[i] != 0; i = (i + 1) & (slots_.size() - 1)) {
      const std::size_t k = slots_[i] - 1;
      if (hashes_[k] == h && ends_[k + 1] - ends_[k] == key_.size() &&
          std::equal(key_.begin(), key_.end(), pool_.begin() + static_cast<std::ptrdiff_t>(ends_[k])) &&
          model_.equal(states_[k], s))
        return {&states_[k], false};
    }
    states_.push_back(std::move(s));
    pool_.insert(pool_.end(), key_.begin(), key_.end());
    ends_.push_back(pool_.size());
    hashes_.push_back(h);
    slots_[i] = hashes_.size();
    if (2 * hashes_.size() > slots_.size()) grow();
    return {&states_.back(), true};
  }

 private:
  std::size_t hash(const State& s) const {
    std::uint64_t h = model_.hash(s);
    for (std::uint32_t r : key_) h = (h ^ r) * 0x100000001b3ull;
    // Mix the high bits into the low ones, which pick the slot.
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return static_cast<std::size_t>(h);
  }
  void grow() {
    std::vector<std::size_t> bigger(2 * slots_.size(), 0);
    for (std::size_t k = 0; k < hashes_.size(); ++k) {
      std::size_t i = hashes_[k] & (bigger.size() - 1);
      while (bigger[i] != 0) i = (i + 1) & (bigger.size() - 1);
      bigger[i] = k + 1;
    }
    slots_ = std::move(bigger);
  }

  const Model& model_;
  std::vector<std::uint32_t> key_;       // scratch: the key being inserted
  std::deque<State> states_;
  std::vector<std::uint32_t> pool_;      // node k's key: pool_[ends_[k], ends_[k + 1])
  std::vector<std::size_t> ends_ = {0};
  std::vector<std::size_t> hashes_;      // node k's hash
  std::vector<std::size_t> slots_;       // 0: empty, else node + 1; a power of two, at most half full
};

}  // namespace detail

template <class Model>
Result check(const Model& model, const typename Model::State& initial,
             const std::vector<Op<typename Model::Input, typename Model::Output>>& history,
             std::chrono::milliseconds budget, std::uint64_t max_memo_bytes = UINT64_MAX) {
  using State = typename Model::State;
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + budget;
  const std::size_t n = history.size();
  Result result;

  // Events: 0 is the head sentinel, 1 + 2i is op i's call, 2 + 2i its return.
  struct Event {
    std::uint64_t time;
    bool call;
    std::size_t op;
  };
  std::vector<Event> ev(2 * n + 1);
  // Sort keys (time, then calls before returns at equal times, as such
  // operations overlap, then the event index): a total order, so the search
  // is deterministic; compared by value, which is what makes the sort fast.
  struct Key {
    std::uint64_t time;
    std::uint64_t tie;  // bit 63: a return; low bits: the event
    bool operator<(const Key& o) const { return time != o.time ? time < o.time : tie < o.tie; }
  };
  constexpr std::uint64_t kReturn = std::uint64_t{1} << 63;
  std::vector<Key> sorted;
  sorted.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& o = history[i];
    ev[1 + 2 * i] = {o.call, true, i};
    ev[2 + 2 * i] = {o.responded ? o.ret : UINT64_MAX, false, i};
    sorted.push_back({ev[1 + 2 * i].time, 1 + 2 * i});
    sorted.push_back({ev[2 + 2 * i].time, kReturn | (2 + 2 * i)});
  }
  // A recorded history is usually one sorted run of events per client, one
  // after another: merging the runs is O(n log clients).
  std::vector<std::size_t> runs = {0};
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i] < sorted[i - 1]) runs.push_back(i);
  runs.push_back(sorted.size());
  while (runs.size() > 2) {
    std::vector<std::size_t> merged = {0};
    for (std::size_t r = 0; r + 2 < runs.size(); r += 2) {
      std::inplace_merge(sorted.begin() + static_cast<std::ptrdiff_t>(runs[r]),
                         sorted.begin() + static_cast<std::ptrdiff_t>(runs[r + 1]),
                         sorted.begin() + static_cast<std::ptrdiff_t>(runs[r + 2]));
      merged.push_back(runs[r + 2]);
    }
    if (runs.size() % 2 == 0) merged.push_back(runs.back());  // an odd run out, merged next round
    runs = std::move(merged);
  }
  constexpr std::size_t kEnd = SIZE_MAX;
  std::vector<std::size_t> next(2 * n + 1, kEnd), prev(2 * n + 1, 0);
  std::size_t last = 0;
  for (const Key& k : sorted) {
    const std::size_t e = k.tie & ~kReturn;
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  auto unlink = [&](std::size_t e) {
    next[prev[e]] = next[e];
    if (next[e] != kEnd) prev[next[e]] = prev[e];
  };
  auto relink = [&](std::size_t e) {  // undoes unlink(e), in reverse order of the unlinks
    next[prev[e]] = e;
    if (next[e] != kEnd) prev[next[e]] = e;
  };

  // Ranks by call time, for the linearized set's small keys.
  std::vector<std::size_t> rank(n);
  {
    std::size_t r = 0;
    for (const Key& k : sorted)
      if (!(k.tie & kReturn)) rank[ev[k.tie].op] = r++;
  }
  detail::DoneSet done(n);
  detail::Memo<Model> seen(model);

  // The memo owns every state reached (its nodes do not move), so the
  // search and its stack hold pointers: no state is copied after step().
  struct Frame {
    std::size_t call_event;
    const State* before;
  };
  std::vector<Frame> stack;
  const State* state = &initial;
  // The longest partial order found, as a DoneSet key: taken when the
  // search first backs out of a new greatest depth, so it costs the size of
  // the frontier, not of the history, and only when the search backtracks.
  std::size_t deepest = 0;
  bool deepest_unsaved = false;
  std::vector<std::uint32_t> deepest_key = {0};
  auto mark = [&](std::size_t i, bool on) {
    if (on) {
      done.set(rank[i]);
    } else {
      done.clear(rank[i]);
    }
  };

  std::size_t cursor = next[0];
  while (true) {
    if (next[0] == kEnd || (cursor != kEnd && !ev[cursor].call && !history[ev[cursor].op].responded)) {
      // Everything is linearized, or only operations with unknown outcomes
      // are left (their returns sort last): they never took effect.
      result.verdict = Verdict::kLinearizable;
      for (const Frame& f : stack) result.order.push_back(ev[f.call_event].op);
      return result;
    }
    if ((++result.states & 255) == 0 && (Clock::now() > deadline || seen.bytes() > max_memo_bytes)) {
      result.verdict = Verdict::kUnknown;
      return result;
    }
    const Event& e = ev[cursor];
    if (e.call) {
      const auto& o = history[e.op];
      if (std::optional<State> after = model.step(*state, o.input, o.responded ? &o.output : nullptr)) {
        mark(e.op, true);
        if (auto [stored, fresh] = seen.insert(done, std::move(*after)); fresh) {
          stack.push_back({cursor, state});
          state = stored;
          unlink(cursor);
          unlink(cursor + 1);  // its return
          if (stack.size() > deepest) {
            deepest = stack.size();
            deepest_unsaved = true;
          }
          cursor = next[0];
          continue;
        }
        mark(e.op, false);
      }
      cursor = next[cursor];
      continue;
    }
    // A return whose operation is not linearized yet: undo the last choice.
    if (deepest_unsaved) {
      deepest_key.clear();
      done.key(deepest_key);
      deepest_unsaved = false;
    }
    if (stack.empty()) {
      result.verdict = Verdict::kNotLinearizable;
      result.deepest.resize(n);
      for (std::size_t i = 0; i < n; ++i) result.deepest[i] = detail::DoneSet::in_key(deepest_key, rank[i]);
      return result;
    }
    const Frame f = stack.back();
    stack.pop_back();
    relink(f.call_event + 1);
    relink(f.call_event);
    mark(ev[f.call_event].op, false);
    state = f.before;
    cursor = next[f.call_event];
  }
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
