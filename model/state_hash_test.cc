// state_hash() (model/state_hash.h): equal states hash equal, and the
// changes a stress history makes (a store, a zap, a dirty bit, a write-back)
// change the hash, so the checker's memo rarely needs its == fallback.
#include "model/state_hash.h"

#include <gtest/gtest.h>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

System Sample() {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, AnonAt(kLo, 4 * kP));
  Map(s, FileAt(f, 0, kLo + 8 * kP, 2 * kP, /*shared=*/true));
  return s;
}

TEST(StateHash, EqualStatesHashEqual) {
  System a = Sample(), b = Sample();
  ASSERT_TRUE(a == b);
  EXPECT_EQ(state_hash(a), state_hash(b));
  EXPECT_TRUE(IsOk(a.write(kLo, 5)));
  EXPECT_TRUE(IsOk(b.write(kLo, 5)));
  EXPECT_EQ(state_hash(a), state_hash(b));
}

TEST(StateHash, WhatAHistoryChangesChangesTheHash) {
  System s = Sample();
  const std::size_t h0 = state_hash(s);
  ASSERT_TRUE(IsOk(s.write(kLo, 5)));  // a new anonymous page
  const std::size_t h1 = state_hash(s);
  EXPECT_NE(h1, h0);
  ASSERT_TRUE(IsOk(s.write(kLo, 6)));  // the same page, another byte value
  const std::size_t h2 = state_hash(s);
  EXPECT_NE(h2, h1);
  ASSERT_TRUE(IsOk(s.write(kLo + 8 * kP, 7)));  // a dirty shared file page
  const std::size_t h3 = state_hash(s);
  EXPECT_NE(h3, h2);
  ASSERT_TRUE(IsOk(s.writeback(s.vma_lookup(kLo + 8 * kP)->backing.file)));  // cleaned, on disk
  const std::size_t h4 = state_hash(s);
  EXPECT_NE(h4, h3);
  ASSERT_TRUE(s.zap_page_range_single(kLo, kLo, kP).ok());  // the anonymous page is gone
  EXPECT_NE(state_hash(s), h4);
}

}  // namespace
}  // namespace mmv::model::test
