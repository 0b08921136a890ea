// The reach table (properties/reach.h) counts what a command really hit,
// and reports a possible cell it never saw: the check in
// stateful_props.cc can fail.
#include "properties/reach.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "testing/model_runner.h"

namespace mmv::props {
namespace {

using cmd::Command;
using cmd::Op;

constexpr VmFlags kRw = flags::kRead | flags::kWrite;

Command mmap_at(Addr a, std::uint64_t len, VmFlags advice = 0) {
  Command c;
  c.op = Op::kMmap;
  c.mmap.fixed = true;
  c.mmap.addr = a;
  c.mmap.length = len;
  c.mmap.prot = kRw;
  c.mmap.advice = advice;
  return c;
}

Command at(Op op, Addr a, std::uint64_t len = 0) {
  Command c;
  c.op = op;
  c.addr = a;
  c.addr2 = a;
  c.len = len;
  c.value = 7;
  return c;
}

// Runs `c` on `m` after counting it, as the state machine does.
void run(Reach& r, cmd::ModelRunner& m, const Command& c) {
  r.count(c, m.system());
  (void)m.apply(c);
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(Reach, NothingCountedMeansEveryPossibleCellIsMissing) {
  const Reach r;
  EXPECT_EQ(static_cast<int>(r.missing().size()), r.possible_cells());
  EXPECT_GT(r.possible_cells(), 100);
  EXPECT_NE(r.table().find("never hit:"), std::string::npos);
}

TEST(Reach, AStoreThenALoadHitTheDirtyAnonymousPage) {
  Reach r;
  cmd::ModelRunner m;
  const Addr a = cmd::kWindowLo;
  run(r, m, mmap_at(a, 4 * kPageSize));
  run(r, m, at(Op::kWrite, a));
  run(r, m, at(Op::kRead, a));
  EXPECT_EQ(r.at(Op::kMmap, Hit::kNoVma, Met::kAny), 1u);  // over nothing
  EXPECT_EQ(r.at(Op::kWrite, Hit::kEmpty, Met::kAny), 1u);  // a VMA, nothing mapped yet
  EXPECT_EQ(r.at(Op::kRead, Hit::kAnon, Met::kAny), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kAnon, Met::kDirty), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kAnon, Met::kWriteProtected), 0u);
  EXPECT_FALSE(has(r.missing(), "read/anon/dirty"));
  EXPECT_TRUE(has(r.missing(), "read/anon/wp"));
}

TEST(Reach, APartialZapOfAHugePageIsPartial) {
  Reach r;
  cmd::ModelRunner m;
  const Addr a = cmd::kWindowLo;
  run(r, m, mmap_at(a, kPmdSize, flags::kHugePage));
  run(r, m, at(Op::kWrite, a));
  ASSERT_EQ(m.system().page_table().pmd_leaves.size(), 1u) << "the write should have mapped a THP";
  Command zap = at(Op::kZap, a, 3 * kPageSize);
  run(r, m, zap);
  EXPECT_EQ(r.at(Op::kZap, Hit::kThp, Met::kPartial), 1u);
  EXPECT_EQ(r.at(Op::kZap, Hit::kThp, Met::kDirty), 1u);
}

TEST(Reach, EveryCommandAfterTheLastUserIsTeardown) {
  Reach r;
  cmd::ModelRunner m;
  Command put;
  put.op = Op::kMmput;
  run(r, m, put);
  run(r, m, at(Op::kRead, cmd::kWindowLo));
  EXPECT_EQ(r.at(Op::kMmput, Hit::kNone, Met::kAny), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kNone, Met::kTeardown), 1u);
  EXPECT_EQ(r.at(Op::kRead, Hit::kNoVma, Met::kAny), 0u);
}

TEST(Reach, ImpossibleCellsAreNotAskedFor) {
  EXPECT_FALSE(possible(Op::kRead, Hit::kZero, Met::kDirty));       // never writable
  EXPECT_FALSE(possible(Op::kRead, Hit::kThp, Met::kPartial));      // not a range
  EXPECT_FALSE(possible(Op::kMmput, Hit::kNone, Met::kTeardown));   // needs a user
  EXPECT_FALSE(possible(Op::kVmaLookup, Hit::kAnon, Met::kDirty));  // reads no entry
  EXPECT_TRUE(possible(Op::kZap, Hit::kDriver, Met::kDirty));       // dirty PTE, clean folio
  EXPECT_TRUE(possible(Op::kZap, Hit::kThp, Met::kPartial));
}

}  // namespace
}  // namespace mmv::props
