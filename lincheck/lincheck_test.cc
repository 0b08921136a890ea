// The generic checker (lincheck/lincheck.h) on a model that is not memory
// management: the compare-and-set register of lincheck/models.h, with histories whose verdicts are
// known, including operations whose outcome is unknown (Jepsen's :info).
#include "lincheck/lincheck.h"

#include "lincheck/generate.h"
#include "lincheck/models.h"
#include "lincheck/parts.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mmv::lin {
namespace {

using namespace std::chrono_literals;

// The TSan repeat gate runs these tests 20 times for the sake of
// check_parts' threads; the histories of the verdict comparisons below are
// about the search, so under TSan it takes a fifth of them (the default
// build checks them all).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MMV_LIN_TSAN 1
#endif
#endif
#if defined(MMV_LIN_TSAN) || defined(__SANITIZE_THREAD__)
constexpr std::uint64_t kShare = 5;
#else
constexpr std::uint64_t kShare = 1;
#endif

using Register = CasRegister;
using RegIn = CasRegister::Input;
using RegOut = CasRegister::Output;

using RegOp = Op<RegIn, RegOut>;

RegOp read(int c, std::uint64_t call, std::uint64_t ret, int v) { return {c, call, ret, true, {RegIn::kRead}, {true, v}}; }
RegOp write(int c, std::uint64_t call, std::uint64_t ret, int v) { return {c, call, ret, true, {RegIn::kWrite, v}, {}}; }
RegOp cas(int c, std::uint64_t call, std::uint64_t ret, int from, int to, bool ok) {
  return {c, call, ret, true, {RegIn::kCas, from, to}, {ok, 0}};
}
RegOp unknown(RegOp op) {
  op.responded = false;
  return op;
}

Verdict verdict(const std::vector<RegOp>& h) { return check(Register{}, 0, h, 5s).verdict; }

TEST(Lincheck, SequentialHistoryIsLinearizableInItsOwnOrder) {
  const std::vector<RegOp> h = {write(0, 0, 1, 1), read(0, 2, 3, 1), cas(0, 4, 5, 1, 2, true), read(0, 6, 7, 2)};
  const Result r = check(Register{}, 0, h, 5s);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{0, 1, 2, 3}));
}

TEST(Lincheck, OverlappingOperationsMayTakeEitherOrder) {
  // c0 writes 1 while c1 reads 0 and then 1: the read of 0 comes first.
  EXPECT_EQ(verdict({write(0, 0, 10, 1), read(1, 1, 2, 0), read(1, 3, 4, 1)}), Verdict::kLinearizable);
  // Two overlapping CAS from 0: only one may succeed.
  EXPECT_EQ(verdict({cas(0, 0, 5, 0, 1, true), cas(1, 1, 6, 0, 2, false), read(2, 7, 8, 1)}),
            Verdict::kLinearizable);
  EXPECT_EQ(verdict({cas(0, 0, 5, 0, 1, true), cas(1, 1, 6, 0, 2, true)}), Verdict::kNotLinearizable);
}

// A return and a call at the same instant overlap: neither operation is
// known to have come first (so such a history is not replayed as one order).
TEST(Lincheck, OperationsThatMeetAtOneInstantOverlap) {
  EXPECT_EQ(verdict({write(0, 0, 5, 1), read(1, 5, 6, 0)}), Verdict::kLinearizable);
  EXPECT_EQ(verdict({write(0, 0, 5, 1), read(1, 6, 7, 0)}), Verdict::kNotLinearizable);
}

TEST(Lincheck, AStaleReadIsNotLinearizable) {
  const Result r = check(Register{}, 0, {write(0, 0, 1, 1), write(0, 2, 3, 2), read(1, 4, 5, 1)}, 5s);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  ASSERT_EQ(r.deepest.size(), 3u);
  EXPECT_TRUE(r.deepest[0] && r.deepest[1] && !r.deepest[2]) << "the read is what cannot be placed";
}

TEST(Lincheck, AnUnknownOutcomeMayHaveTakenEffectOrNot) {
  const RegOp w2 = unknown(write(0, 0, 0, 2));  // called at 0, never answered
  EXPECT_EQ(verdict({w2, read(1, 5, 6, 2)}), Verdict::kLinearizable);   // it took effect
  EXPECT_EQ(verdict({w2, read(1, 5, 6, 0)}), Verdict::kLinearizable);   // it did not
  EXPECT_EQ(verdict({w2, read(1, 5, 6, 3)}), Verdict::kNotLinearizable);  // nobody wrote 3
  // Once seen, its effect stays: 2 then 0 would need it to happen twice.
  EXPECT_EQ(verdict({w2, read(1, 5, 6, 2), read(1, 7, 8, 0)}), Verdict::kNotLinearizable);
}

TEST(Lincheck, AnUnknownOutcomeCannotTakeEffectBeforeItsCall) {
  EXPECT_EQ(verdict({read(1, 0, 1, 2), unknown(write(0, 5, 0, 2))}), Verdict::kNotLinearizable);
}

// A model may refuse an operation even when its outcome is unknown (a lock
// that cannot be taken twice): then it never took effect, wherever it
// stands, even alone at the end of the history.
struct Lock {
  using State = int;
  struct Input {};
  struct Output {};
  std::optional<State> step(const State& s, const Input&, const Output*) const {
    if (s == 1) return std::nullopt;
    return 1;
  }
  std::size_t hash(const State& s) const { return static_cast<std::size_t>(s); }
  bool equal(const State& a, const State& b) const { return a == b; }
};

TEST(Lincheck, AnUnknownOutcomeTheModelRefusesNeverTookEffect) {
  using LockOp = Op<Lock::Input, Lock::Output>;
  const LockOp taken{0, 0, 1, true, {}, {}};
  const LockOp crashed{1, 2, 0, false, {}, {}};  // called after it was taken, never answered
  EXPECT_EQ(check(Lock{}, 0, {taken, crashed}, 5s).verdict, Verdict::kLinearizable);
  EXPECT_EQ(check(Lock{}, 0, {taken, crashed, LockOp{2, 3, 4, true, {}, {}}}, 5s).verdict,
            Verdict::kNotLinearizable);  // a second answered acquire cannot be
}

TEST(Lincheck, ManyConcurrentClientsStaySmall) {
  // 8 clients x 200 rounds of write-then-read of their own value through a
  // shared register, rounds separated in time: linearizable, and the memo
  // keeps the search linear in the history.
  std::vector<RegOp> h;
  std::uint64_t t = 0;
  for (int round = 0; round < 200; ++round, t += 100) {
    for (int c = 0; c < 8; ++c) h.push_back(write(c, t + c, t + 20 + c, round * 8 + c));
    for (int c = 0; c < 8; ++c) h.push_back(read(c, t + 30 + c, t + 40 + c, round * 8 + 7));
  }
  const Result r = check(Register{}, 0, h, 20s);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable);
  EXPECT_LT(r.states, 200u * 16 * 64);
}

TEST(Lincheck, PartitionKeepsOrderAndFirstAppearance) {
  const std::vector<int> h = {5, 1, 5, 2, 1};
  const auto parts = partition<int, int>(h, [](const int& x) { return x; });
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].first, 5);
  EXPECT_EQ(parts[0].second, (std::vector<int>{5, 5}));
  EXPECT_EQ(parts[1].first, 1);
  EXPECT_EQ(parts[2].first, 2);
}

// A model as it is, but saying nothing of which operations are read-only:
// the search then tries every operation as a choice, as it did before
// read_only() existed.
template <class Model>
struct WithoutReadOnly {
  using State = typename Model::State;
  using Input = typename Model::Input;
  using Output = typename Model::Output;
  Model m;
  std::optional<State> step(const State& s, const Input& in, const Output* out) const { return m.step(s, in, out); }
  std::size_t hash(const State& s) const { return m.hash(s); }
  bool equal(const State& a, const State& b) const { return m.equal(a, b); }
};

template <class Model>
std::vector<Part<Model>> parts_of(const gen::Options& o, std::vector<history::Operation>& keep) {
  std::istringstream in(gen::generate(o).text);
  keep = history::pair_events(
      history::read_events(in, o.model == "kv" ? history::Format::kEdnLines : history::Format::kJepsenLog));
  if constexpr (std::is_same_v<Model, KvKey>) {
    return kv_parts(keep);
  } else {
    return register_parts(keep);
  }
}

// Read-only operations are never a choice (Search::reads_pass_): an exact
// reduction, so the verdict on every history is the one the full search
// gives. Small random histories of both models, with :info, crowded
// clients, long-tailed durations and both kinds of violation.
TEST(Lincheck, ReadOnlyReductionKeepsEveryVerdict) {
  int verdicts[3] = {0, 0, 0};
  for (std::uint64_t seed = 1; seed <= 300 / kShare; ++seed) {
    gen::Options o;
    o.model = seed % 2 ? "kv" : "cas-register";
    o.processes = 2 + static_cast<int>(seed % 7);
    o.ops = 20 + static_cast<long>(seed % 40);
    o.keys = 2;
    o.info_percent = static_cast<int>(seed % 4) * 3;
    o.long_tailed = seed % 3 == 0;
    o.seed = seed;
    if (seed % 5 == 1) o.violate = "never-written";
    if (seed % 5 == 2 && o.model == "kv") o.violate = "stale";
    std::vector<history::Operation> keep;
    auto compare = [&](const auto& model, const auto& bare, const auto& parts) {
      for (const auto& part : parts) {
        const Result with = check(model, {}, part.ops, 20s);
        const Result without = check(bare, {}, part.ops, 20s);
        ASSERT_NE(with.verdict, Verdict::kUnknown);
        EXPECT_EQ(with.verdict, without.verdict) << "seed " << seed << ", " << part.label;
        ++verdicts[static_cast<int>(with.verdict)];
      }
    };
    if (o.model == "kv") {
      compare(KvKey{}, WithoutReadOnly<KvKey>{}, parts_of<KvKey>(o, keep));
    } else {
      compare(CasRegister{}, WithoutReadOnly<CasRegister>{}, parts_of<CasRegister>(o, keep));
    }
  }
  EXPECT_GT(verdicts[static_cast<int>(Verdict::kLinearizable)], static_cast<int>(100 / kShare));
  EXPECT_GT(verdicts[static_cast<int>(Verdict::kNotLinearizable)], static_cast<int>(30 / kShare));
}

// Hints order the search, never decide it: a model whose hints point the
// wrong way gets the same verdicts (and a part is searched both ways, so a
// bad hint costs time only).
template <class Model>
struct ContraryHints : Model {
  bool toward(const typename Model::State& s, const typename Model::Input& in,
              const typename Model::Output& seen) const {
    return !Model::toward(s, in, seen);
  }
};

TEST(Lincheck, HintsNeverChangeAVerdict) {
  for (std::uint64_t seed = 1; seed <= 120 / kShare; ++seed) {
    gen::Options o;
    o.model = "kv";
    o.processes = 3 + static_cast<int>(seed % 9);
    o.ops = 40 + static_cast<long>(seed % 50);
    o.keys = 2;
    o.info_percent = static_cast<int>(seed % 3) * 2;
    o.long_tailed = seed % 2 == 0;
    o.mix = {45, 5, 50};
    o.seed = seed;
    if (seed % 3 == 1) o.violate = "stale";
    std::vector<history::Operation> keep;
    for (const auto& part : parts_of<KvKey>(o, keep)) {
      const Verdict plain = check(WithoutReadOnly<KvKey>{}, {}, part.ops, 20s).verdict;
      ASSERT_NE(plain, Verdict::kUnknown);
      EXPECT_EQ(check(KvKey{}, {}, part.ops, 20s).verdict, plain) << "seed " << seed;
      EXPECT_EQ(check(ContraryHints<KvKey>{}, {}, part.ops, 20s).verdict, plain) << "seed " << seed;
    }
  }
}

// A node whose reached read can no longer see what it saw ends there
// (Search::lost): exact, so a model without reachable(), monotone() and
// resets() gets the same verdicts. Many puts, so that resets are common,
// and crowded long-tailed clients, so that reads wait long.
template <class Model>
struct WithoutLostReads {
  using State = typename Model::State;
  using Input = typename Model::Input;
  using Output = typename Model::Output;
  Model m;
  std::optional<State> step(const State& s, const Input& in, const Output* out) const { return m.step(s, in, out); }
  bool read_only(const Input& in, const Output* out) const { return m.read_only(in, out); }
  bool toward(const State& s, const Input& in, const Output& seen) const { return m.toward(s, in, seen); }
  std::size_t hash(const State& s) const { return m.hash(s); }
  bool equal(const State& a, const State& b) const { return m.equal(a, b); }
};

TEST(Lincheck, LostReadsKeepEveryVerdict) {
  static_assert(detail::HasReachable<KvKey> && detail::HasResets<KvKey>);
  static_assert(!detail::HasReachable<WithoutLostReads<KvKey>>);
  int verdicts[3] = {0, 0, 0};
  for (std::uint64_t seed = 1; seed <= 200 / kShare; ++seed) {
    gen::Options o;
    o.model = "kv";
    o.processes = 3 + static_cast<int>(seed % 7);
    o.ops = 30 + static_cast<long>(seed % 40);
    o.keys = 2;
    o.info_percent = static_cast<int>(seed % 3) * 3;
    o.long_tailed = seed % 2 == 0;
    o.mix = {45, seed % 4 == 0 ? 5u : 20u, 50};
    o.seed = seed;
    if (seed % 3 == 1) o.violate = "stale";
    std::vector<history::Operation> keep;
    for (const auto& part : parts_of<KvKey>(o, keep)) {
      const Verdict plain = check(WithoutLostReads<KvKey>{}, {}, part.ops, 20s).verdict;
      ASSERT_NE(plain, Verdict::kUnknown);
      EXPECT_EQ(check(KvKey{}, {}, part.ops, 20s).verdict, plain) << "seed " << seed << ", " << part.label;
      ++verdicts[static_cast<int>(plain)];
    }
  }
  EXPECT_GT(verdicts[static_cast<int>(Verdict::kLinearizable)], static_cast<int>(100 / kShare));
  EXPECT_GT(verdicts[static_cast<int>(Verdict::kNotLinearizable)], static_cast<int>(30 / kShare));
}

// The order a history lists its operations in is not part of it: sorted
// by call, one client's after the other's (as the stress tests record
// them), or shuffled, each gets the same verdict.
TEST(Lincheck, ListingOrderDoesNotMatter) {
  for (std::uint64_t seed = 1; seed <= 40 / kShare; ++seed) {
    gen::Options o;
    o.model = seed % 2 ? "kv" : "cas-register";
    o.processes = 2 + static_cast<int>(seed % 6);
    o.ops = 30 + static_cast<long>(seed % 30);
    o.keys = 1;
    o.info_percent = static_cast<int>(seed % 3) * 3;
    o.seed = seed;
    if (seed % 4 == 1) o.violate = o.model == "kv" ? "stale" : "never-written";
    std::vector<history::Operation> keep;
    auto same_listings = [&](const auto& model, auto ops) {
      const Verdict v = check(model, {}, ops, 20s).verdict;
      ASSERT_NE(v, Verdict::kUnknown);
      auto by_client = ops;
      std::stable_sort(by_client.begin(), by_client.end(),
                       [](const auto& a, const auto& b) { return a.client < b.client; });
      EXPECT_EQ(check(model, {}, by_client, 20s).verdict, v) << "seed " << seed;
      std::mt19937_64 rng(seed);
      std::shuffle(ops.begin(), ops.end(), rng);
      EXPECT_EQ(check(model, {}, ops, 20s).verdict, v) << "seed " << seed;
    };
    if (o.model == "kv") {
      for (const auto& part : parts_of<KvKey>(o, keep)) same_listings(KvKey{}, part.ops);
    } else {
      for (const auto& part : parts_of<CasRegister>(o, keep)) same_listings(CasRegister{}, part.ops);
    }
  }
}

// A witness order is one the model accepts, in real-time order.
TEST(Lincheck, WitnessOrderIsAcceptedAndRespectsRealTime) {
  gen::Options o;
  o.model = "cas-register";
  o.processes = 6;
  o.ops = 400;
  o.seed = 9;
  std::vector<history::Operation> keep;
  const auto parts = parts_of<CasRegister>(o, keep);
  const auto& ops = parts[0].ops;
  const Result r = check(Register{}, {}, ops, 20s);
  ASSERT_EQ(r.verdict, Verdict::kLinearizable);
  std::vector<bool> placed(ops.size(), false);
  Register::State s;
  for (std::size_t k = 0; k < r.order.size(); ++k) {
    const auto& op = ops[r.order[k]];
    const auto next = Register{}.step(s, op.input, op.responded ? &op.output : nullptr);
    ASSERT_TRUE(next) << "step " << k;
    s = *next;
    placed[r.order[k]] = true;
    for (std::size_t j = 0; j < ops.size(); ++j)  // whatever returned before op's call is placed
      if (ops[j].responded && ops[j].ret < op.call) {
        ASSERT_TRUE(placed[j]) << "step " << k << " op " << j;
      }
  }
  for (std::size_t j = 0; j < ops.size(); ++j)
    if (ops[j].responded) {
      EXPECT_TRUE(placed[j]) << j;  // only :info may be left out
    }
}

std::vector<std::vector<Op<KvKey::Input, KvKey::Output>>> kv_ops(const gen::Options& o,
                                                                 std::vector<history::Operation>& keep) {
  std::vector<std::vector<Op<KvKey::Input, KvKey::Output>>> ops;
  for (const auto& p : parts_of<KvKey>(o, keep)) ops.push_back(p.ops);
  return ops;
}

// A key-value store's history with no :info, for check_parts.
gen::Options kv_store(int processes, long ops, int keys, std::uint64_t seed) {
  gen::Options o;
  o.model = "kv";
  o.processes = processes;
  o.ops = ops;
  o.keys = keys;
  o.info_percent = 0;
  o.seed = seed;
  return o;
}

// check_parts: the verdict of the whole is the worst part's; a refuted part
// stops the rest; one thread gives the same result every time.
TEST(Lincheck, CheckPartsRefutesAndStopsTheOthers) {
  gen::Options o = kv_store(20, 3000, 8, 4);
  std::vector<history::Operation> keep;
  const auto good = kv_ops(o, keep);
  for (unsigned threads : {1u, 2u, 4u}) {
    const PartsResult r = check_parts(KvKey{}, {}, good, 20s, UINT64_MAX, threads);
    EXPECT_EQ(r.verdict, Verdict::kLinearizable);
    ASSERT_EQ(r.parts.size(), good.size());
    for (const Result& p : r.parts) EXPECT_EQ(p.verdict, Verdict::kLinearizable);
    for (bool s : r.stopped) EXPECT_FALSE(s);
  }
  o.violate = "stale";
  std::vector<history::Operation> keep_bad;
  const auto bad = kv_ops(o, keep_bad);
  PartsResult first;
  for (unsigned threads : {1u, 1u, 2u, 4u}) {
    const PartsResult r = check_parts(KvKey{}, {}, bad, 20s, UINT64_MAX, threads);
    ASSERT_EQ(r.verdict, Verdict::kNotLinearizable);
    ASSERT_LT(r.refuted, bad.size());
    EXPECT_EQ(r.parts[r.refuted].verdict, Verdict::kNotLinearizable);
    EXPECT_EQ(check(KvKey{}, {}, bad[r.refuted], 20s).verdict, Verdict::kNotLinearizable);
    for (std::size_t i = 0; i < bad.size(); ++i)
      if (r.stopped[i]) {
        EXPECT_EQ(r.parts[i].verdict, Verdict::kUnknown);
      }
    if (threads == 1 && first.parts.empty()) {
      first = r;
    } else if (threads == 1) {
      EXPECT_EQ(r.refuted, first.refuted);
      EXPECT_EQ(r.states, first.states);
      EXPECT_EQ(r.stopped, first.stopped);
    }
  }
}

// Each part has the whole budget of its own: a part that cannot finish
// ends unknown, and the others still get their verdicts.
TEST(Lincheck, CheckPartsBoundsEachPartOnItsOwn) {
  std::vector<std::vector<RegOp>> parts;
  // 14 concurrent writes of distinct values and no read to order them:
  // the memo keeps (set, state) pairs apart, about 14 x 2^13 of them.
  std::vector<RegOp> hard;
  for (int c = 0; c < 14; ++c) hard.push_back(write(c, c, 1000, c + 1));
  hard.push_back(read(20, 2000, 2001, 99));  // nobody wrote 99: every order fails
  parts.push_back(hard);
  parts.push_back({write(0, 0, 1, 1), read(1, 2, 3, 1)});
  const PartsResult r = check_parts(Register{}, 0, parts, 1ms, UINT64_MAX, 1);
  EXPECT_EQ(r.parts[1].verdict, Verdict::kLinearizable);
  EXPECT_EQ(r.parts[0].verdict, Verdict::kUnknown);
  EXPECT_FALSE(r.stopped[0]);
  EXPECT_EQ(r.verdict, Verdict::kUnknown);
  EXPECT_EQ(check_parts(Register{}, 0, parts, 60s, UINT64_MAX, 1).verdict, Verdict::kNotLinearizable);
}

// A history in which every operation returns before the next is called is
// replayed, not searched (Search::replay): its verdict, witness order and
// longest partial order are the search's. The search is made to run by one
// more operation, a read of unknown outcome called after all the others:
// it changes no state and has no output to check, so it changes none of the
// three (a witness order may end with it).
template <class Model>
void same_as_searched(const std::vector<Op<typename Model::Input, typename Model::Output>>& ops,
                      typename Model::Input read, int counts[3]) {
  auto searched = ops;
  searched.push_back({0, ops.back().ret + 1, 0, false, read, {}});
  const Result a = check(Model{}, {}, ops, 20s);
  Result b = check(Model{}, {}, searched, 20s);
  ASSERT_EQ(a.verdict, b.verdict);
  ++counts[static_cast<int>(a.verdict)];
  if (!b.order.empty() && b.order.back() == ops.size()) b.order.pop_back();  // the read, taken last
  EXPECT_EQ(a.order, b.order);
  if (a.verdict == Verdict::kNotLinearizable) {
    ASSERT_EQ(b.deepest.size(), ops.size() + 1);
    EXPECT_EQ(a.deepest, std::vector<bool>(b.deepest.begin(), b.deepest.end() - 1));
    EXPECT_FALSE(a.deepest.back());
  }
}

TEST(Lincheck, OneClientIsReplayedAsItIsSearched) {
  int counts[3] = {0, 0, 0};
  for (std::uint64_t seed = 1; seed <= 60 / kShare; ++seed) {
    gen::Options o;
    o.model = seed % 2 ? "kv" : "cas-register";
    o.processes = 1;
    o.ops = 200;
    o.keys = 2;
    o.info_percent = 0;
    o.seed = seed;
    if (seed % 3 != 0) o.violate = o.model == "kv" ? "stale" : "never-written";
    std::vector<history::Operation> keep;
    if (o.model == "kv") {
      for (const auto& part : parts_of<KvKey>(o, keep))
        same_as_searched<KvKey>(part.ops, KvKey::input(KvKey::Input::kGet), counts);
    } else {
      for (const auto& part : parts_of<Register>(o, keep)) same_as_searched<Register>(part.ops, RegIn{}, counts);
    }
  }
  EXPECT_GT(counts[static_cast<int>(Verdict::kLinearizable)], static_cast<int>(20 / kShare));
  EXPECT_GT(counts[static_cast<int>(Verdict::kNotLinearizable)], static_cast<int>(20 / kShare));
  EXPECT_EQ(counts[static_cast<int>(Verdict::kUnknown)], 0);
}

// check_parts called from several threads at once, each call running
// threads of its own: every call gets its own verdict.
TEST(Lincheck, CheckPartsFromManyThreadsAtOnce) {
  gen::Options o = kv_store(10, 2000, 10, 3);
  std::vector<history::Operation> keep_good, keep_bad;
  const auto good = kv_ops(o, keep_good);
  o.violate = "stale";
  const auto bad = kv_ops(o, keep_bad);
  std::vector<std::thread> callers;
  std::vector<Verdict> verdicts(8);
  for (std::size_t t = 0; t < verdicts.size(); ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        verdicts[t] = check_parts(KvKey{}, {}, t % 2 ? bad : good, 20s, UINT64_MAX, 4).verdict;
        if (verdicts[t] != (t % 2 ? Verdict::kNotLinearizable : Verdict::kLinearizable)) return;
      }
    });
  for (std::thread& c : callers) c.join();
  for (std::size_t t = 0; t < verdicts.size(); ++t)
    EXPECT_EQ(verdicts[t], t % 2 ? Verdict::kNotLinearizable : Verdict::kLinearizable) << t;
}

// KvKey's values are chains of pieces: equal texts are equal states however
// they were built, and a get reads the text.
TEST(Lincheck, KvValuesCompareByTextNotByPieces) {
  const KvKey kv;
  const auto put = KvKey::input(KvKey::Input::kPut, "abcdef");
  const auto app = [](std::string v) { return KvKey::input(KvKey::Input::kAppend, std::move(v)); };
  const KvKey::State whole = *kv.step({}, put, nullptr);
  KvKey::State pieces = *kv.step({}, app("ab"), nullptr);
  pieces = *kv.step(pieces, app("c"), nullptr);
  pieces = *kv.step(pieces, app(""), nullptr);
  pieces = *kv.step(pieces, app("def"), nullptr);
  const KvKey::State other = *kv.step(*kv.step({}, app("abd"), nullptr), app("cef"), nullptr);
  EXPECT_EQ(whole.text(), "abcdef");
  EXPECT_EQ(pieces.text(), "abcdef");
  EXPECT_TRUE(kv.equal(whole, pieces));
  EXPECT_EQ(kv.hash(whole), kv.hash(pieces));
  EXPECT_FALSE(kv.equal(whole, other));
  const auto get = KvKey::input(KvKey::Input::kGet);
  const auto saw = KvKey::output("abcdef");
  EXPECT_TRUE(kv.step(pieces, get, &saw));
  EXPECT_FALSE(kv.step(other, get, &saw));
  const auto empty = KvKey::output("");
  EXPECT_TRUE(kv.step({}, get, &empty));
  EXPECT_FALSE(kv.step(whole, get, &empty));
  // A long chain is freed without a recursion as deep as it.
  KvKey::State s;
  const int appends = static_cast<int>(1000000 / kShare);
  for (int i = 0; i < appends; ++i) s = *kv.step(s, app("x"), nullptr);
  EXPECT_EQ(s.length, static_cast<std::size_t>(appends));
}

}  // namespace
}  // namespace mmv::lin
