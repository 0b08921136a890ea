// describe(), facts() and diff() (model/describe.h).

#include "model/describe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "model/test_util.h"

namespace mmv::model::test {
namespace {

std::size_t Lines(const std::string& s) {
  if (s.empty()) return 0;
  std::size_t n = static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  return s.back() == '\n' ? n : n + 1;
}

System Sample() {
  System s(kLo, kHi);
  FileId f = s.create_file(MarkedPages(2), System::Cache::kCold);
  Map(s, AnonAt(kLo, 4 * kP));
  Map(s, FileAt(f, 0, kLo + 8 * kP, 2 * kP, /*shared=*/true));
  EXPECT_TRUE(IsOk(s.write(kLo + kP, 3)));
  EXPECT_TRUE(IsOk(s.read(kLo + 8 * kP)));
  return s;
}

TEST(Describe, DiffOfEqualStatesIsEmpty) {
  System a = Sample();
  System b = Sample();
  ASSERT_EQ(a, b);
  EXPECT_EQ(diff(a, a), "");
  EXPECT_EQ(diff(a, b), "");
  System empty(kLo, kHi);
  EXPECT_EQ(diff(empty, System(kLo, kHi)), "");
}

TEST(Describe, FactsHaveStableKeys) {
  System s = Sample();
  auto f = facts(s);
  EXPECT_EQ(f.count("vma 0x10000000"), 1u);
  EXPECT_EQ(f.count("vma 0x10008000"), 1u);
  EXPECT_EQ(f.count("page 0x10001000"), 1u);
  EXPECT_EQ(f.count("page 0x10008000"), 1u);
  EXPECT_EQ(f.count("page 0x10002000"), 0u) << "absent pages have no fact";
  EXPECT_EQ(f.count("rss"), 1u);
  EXPECT_EQ(facts(s), facts(Sample())) << "facts are deterministic";
}

TEST(Describe, DescribeMentionsTheState) {
  System s = Sample();
  const std::string d = describe(s);
  EXPECT_NE(d.find("vma 0x10000000"), std::string::npos) << d;
  EXPECT_NE(d.find("page 0x10001000"), std::string::npos) << d;
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), d);
  EXPECT_NE(describe(s), describe(System(kLo, kHi)));
}

TEST(Describe, DiffNamesTheDifferingPage) {
  System a = Sample();
  System b = a;
  ASSERT_TRUE(IsOk(b.write(kLo + 2 * kP, 9)));  // a new page
  const std::string d = diff(a, b);
  EXPECT_NE(d.find("page 0x10002000"), std::string::npos) << d;
  EXPECT_EQ(d.find("page 0x10001000"), std::string::npos) << d;
  EXPECT_EQ(d.find("vma "), std::string::npos) << d;
  EXPECT_NE(d.find(" | "), std::string::npos) << d;
  EXPECT_EQ(Lines(d), Lines(diff(b, a)));
}

TEST(Describe, DiffSeesContentsOnlyChanges) {
  System a = Sample();
  System b = a;
  ASSERT_TRUE(IsOk(b.write(kLo + kP + 7, 9)));  // same page, same folio
  ASSERT_EQ(a.page(kLo + kP), b.page(kLo + kP));
  const std::string d = diff(a, b);
  EXPECT_NE(d, "");
  EXPECT_TRUE(d.find("page 0x10001000") != std::string::npos ||
              d.find("folio") != std::string::npos)
      << d;
  EXPECT_EQ(d.find("vma "), std::string::npos) << d;
  EXPECT_EQ(d.find("rss"), std::string::npos) << d;
}

TEST(Describe, DiffNamesNewVmaAndRss) {
  System a = Sample();
  System b = a;
  Map(b, AnonAt(kLo + 16 * kP, kP));
  std::string d = diff(a, b);
  EXPECT_NE(d.find("vma 0x10010000"), std::string::npos) << d;
  EXPECT_EQ(d.find("rss"), std::string::npos) << d;
  ASSERT_TRUE(IsOk(b.write(kLo + 16 * kP, 1)));
  d = diff(a, b);
  EXPECT_NE(d.find("rss"), std::string::npos) << d;
  EXPECT_NE(d.find("page 0x10010000"), std::string::npos) << d;
}

TEST(Describe, SingleFactDifferenceIsOneLine) {
  System a = Sample();
  System b = a;
  ASSERT_TRUE(IsOk(b.mmgrab()));
  const std::string d = diff(a, b);
  EXPECT_EQ(Lines(d), 1u) << d;
}

TEST(Describe, DiffSeesEveryKindOfChange) {
  const System a = Sample();
  {
    System b = a;
    ASSERT_TRUE(Rejected(b.zap_page_range_single(kLo, kLo, 5 * kP)));
    EXPECT_NE(diff(a, b), "") << "zap_rejections";
  }
  {
    System b = a;
    b.fail_next_allocation();
    EXPECT_NE(diff(a, b), "") << "armed injection";
  }
  {
    System dirty = a;
    ASSERT_TRUE(IsOk(dirty.write(kLo + 8 * kP + 1, 0x44)));
    System b = dirty;
    ASSERT_TRUE(IsOk(b.writeback(a.files().begin()->first)));
    EXPECT_NE(diff(dirty, b), "") << "writeback";
  }
  {
    System b = a;
    ASSERT_TRUE(IsOk(b.mprotect(kLo, 4 * kP, kR)));
    EXPECT_NE(diff(a, b), "") << "flags";
  }
  {
    System b = a;
    EXPECT_FALSE(b.mmdrop().ok());
    EXPECT_NE(diff(a, b), "") << "bugs";
  }
}

}  // namespace
}  // namespace mmv::model::test
