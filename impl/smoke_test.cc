#include "impl/test_util.h"

namespace mmv::impl::test {
namespace {

TEST(Smoke, AnonFileDriverThpZap) {
  Twin t;
  const FileId f = t.create_file(MarkedPages(40));
  const Addr a = t.map(AnonAt(kLo, 4 * kPmdSize, kRW, flags::kHugePage));
  t.ExpectSameState();
  EXPECT_TRUE(IsOk(t.write(a + 5 * kP, 7)));
  EXPECT_TRUE(IsOk(t.read(a + kPmdSize + 3)));
  const Addr fm = t.map(FileAt(f, 0, kLo + 8 * kPmdSize, 40 * kP, /*shared=*/true));
  EXPECT_TRUE(IsOk(t.read(fm + 3 * kP)));
  EXPECT_TRUE(IsOk(t.write(fm + 20 * kP, 9)));
  const Addr pm = t.map(FileAt(f, 2, kLo + 10 * kPmdSize, 8 * kP, /*shared=*/false));
  EXPECT_TRUE(IsOk(t.write(pm, 1)));
  EXPECT_TRUE(IsOk(t.read(pm + kP)));
  t.ExpectSameState();
  EXPECT_TRUE(Zapped(t.zap(a, a + 100, kPmdSize)));
  t.ExpectSameState();
  EXPECT_TRUE(IsOk(t.writeback(f)));
  EXPECT_TRUE(IsOk(t.mprotect(a + kPmdSize, kP, kR)));
  EXPECT_TRUE(IsOk(t.munmap(fm + kP, 4 * kP)));
  t.ExpectSameState();
  auto pg = t.alloc_page();
  const Addr d = t.map(DriverAt(kLo + 12 * kPmdSize, 4 * kP));
  EXPECT_TRUE(IsOk(t.vm_insert_page(d, d + kP, pg.value())));
  EXPECT_TRUE(IsErr(t.vm_insert_page(d, d + kP, pg.value()), Errc::kBusy));
  EXPECT_TRUE(Rejected(t.zap(a, a - kP, kP)));
  t.ExpectSameState();
  t.fail_next_allocation();
  EXPECT_TRUE(IsErr(t.write(pm + 3 * kP, 1), Errc::kNoMem));
  t.ExpectSameState();
  EXPECT_TRUE(IsOk(t.munmap(kLo, 16 * kPmdSize)));
  EXPECT_TRUE(IsOk(t.put_page(pg.value())));
  t.ExpectSameState();
}

}  // namespace
}  // namespace mmv::impl::test
