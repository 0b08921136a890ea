// The generic checker (lincheck/lincheck.h) on a model that is not memory
// management: the compare-and-set register of lincheck/models.h, with histories whose verdicts are
// known, including operations whose outcome is unknown (Jepsen's :info).
#include "lincheck/lincheck.h"

#include "lincheck/models.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace mmv::lin {
namespace {

using namespace std::chrono_literals;

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

}  // namespace
}  // namespace mmv::lin
