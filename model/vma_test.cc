// Vma, VmaNew (the setters of a driver's mmap handler) and flags_to_string.

#include "model/vma.h"

#include <gtest/gtest.h>

#include <sstream>

#include "model/flags.h"
#include "model/test_util.h"

namespace mmv::model::test {
namespace {

constexpr VmFlags kAllMay = flags::kMayRead | flags::kMayWrite | flags::kMayExec;

// ---- VmaNew setters --------------------------------------------------------

TEST(VmaNew, KeepsInitialFlags) {
  VmaNew v(kRW | kAllMay);
  EXPECT_EQ(v.flags(), kRW | kAllMay);
}

TEST(VmaNew, SettersSetExactlyTheirBit) {
  struct Case {
    void (VmaNew::*set)();
    VmFlags bit;
  };
  const Case cases[] = {
      {&VmaNew::set_mixedmap, flags::kMixedMap},
      {&VmaNew::set_io, flags::kIo},
      {&VmaNew::set_dontexpand, flags::kDontExpand},
      {&VmaNew::set_dontcopy, flags::kDontCopy},
      {&VmaNew::set_dontdump, flags::kDontDump},
  };
  for (const auto& c : cases) {
    VmaNew v(kR | flags::kMayRead);
    (v.*c.set)();
    EXPECT_EQ(v.flags(), kR | flags::kMayRead | c.bit) << flags_to_string(c.bit);
    (v.*c.set)();  // idempotent
    EXPECT_EQ(v.flags(), kR | flags::kMayRead | c.bit) << flags_to_string(c.bit);
  }
}

// ---- VmaNew try_clear_*: EINVAL while the access bit is set ---------------

struct ClearCase {
  Status (VmaNew::*clear)();
  VmaNewOp op;
  VmFlags access;
  VmFlags may;
};

const ClearCase kClearCases[] = {
    {&VmaNew::try_clear_mayread, VmaNewOp::kTryClearMayRead, flags::kRead,
     flags::kMayRead},
    {&VmaNew::try_clear_maywrite, VmaNewOp::kTryClearMayWrite, flags::kWrite,
     flags::kMayWrite},
    {&VmaNew::try_clear_mayexec, VmaNewOp::kTryClearMayExec, flags::kExec,
     flags::kMayExec},
};

TEST(VmaNew, TryClearFailsWithEinvalWhileAccessBitIsSet) {
  for (const auto& c : kClearCases) {
    const VmFlags start = c.access | kAllMay;
    VmaNew v(start);
    EXPECT_TRUE(IsErr((v.*c.clear)(), Errc::kInval)) << flags_to_string(c.may);
    EXPECT_EQ(v.flags(), start) << "a failed try_clear changed the flags";
  }
}

TEST(VmaNew, TryClearClearsOnlyItsMayBitWhenAccessBitIsClear) {
  for (const auto& c : kClearCases) {
    // Every access bit except the matching one is set.
    const VmFlags start = (flags::kAccessMask & ~c.access) | kAllMay;
    VmaNew v(start);
    EXPECT_TRUE(IsOk((v.*c.clear)())) << flags_to_string(c.may);
    EXPECT_EQ(v.flags(), start & ~c.may) << flags_to_string(c.may);
    // Clearing an already clear bit is fine and changes nothing.
    EXPECT_TRUE(IsOk((v.*c.clear)()));
    EXPECT_EQ(v.flags(), start & ~c.may);
  }
}

TEST(VmaNew, TryClearChecksOnlyTheMatchingAccessBit) {
  // READ set does not block clearing MAYWRITE; WRITE set does not block
  // clearing MAYEXEC.
  VmaNew v(kR | flags::kMayRead | flags::kMayWrite | flags::kMayExec);
  EXPECT_TRUE(IsOk(v.try_clear_maywrite()));
  EXPECT_TRUE(IsOk(v.try_clear_mayexec()));
  EXPECT_TRUE(IsErr(v.try_clear_mayread(), Errc::kInval));
  EXPECT_EQ(v.flags(), kR | flags::kMayRead);
}

TEST(VmaNew, ApplyDispatchesEveryOp) {
  const std::pair<VmaNewOp, VmFlags> sets[] = {
      {VmaNewOp::kSetMixedMap, flags::kMixedMap},
      {VmaNewOp::kSetIo, flags::kIo},
      {VmaNewOp::kSetDontExpand, flags::kDontExpand},
      {VmaNewOp::kSetDontCopy, flags::kDontCopy},
      {VmaNewOp::kSetDontDump, flags::kDontDump},
  };
  for (const auto& [op, bit] : sets) {
    VmaNew v(kRW | kAllMay);
    EXPECT_TRUE(IsOk(v.apply(op)));
    EXPECT_EQ(v.flags(), kRW | kAllMay | bit) << flags_to_string(bit);
  }
  for (const auto& c : kClearCases) {
    VmaNew blocked(c.access | kAllMay);
    EXPECT_TRUE(IsErr(blocked.apply(c.op), Errc::kInval));
    EXPECT_EQ(blocked.flags(), c.access | kAllMay);
    VmaNew ok(kAllMay);
    EXPECT_TRUE(IsOk(ok.apply(c.op)));
    EXPECT_EQ(ok.flags(), kAllMay & ~c.may);
  }
}

// ---- Vma ------------------------------------------------------------------

TEST(Vma, GeometryHelpers) {
  //   0x10000   0x11000   0x12000   0x13000
  //   |---------|---------|---------|   pgoff 7
  Vma v;
  v.start = 0x10000;
  v.end = 0x13000;
  v.flags = kR | flags::kShared | flags::kMayShare;
  v.backing.kind = BackingKind::kFile;
  v.backing.file = 1;
  v.backing.pgoff = 7;
  EXPECT_FALSE(v.contains(0xffff));
  EXPECT_TRUE(v.contains(0x10000));
  EXPECT_TRUE(v.contains(0x12fff));
  EXPECT_FALSE(v.contains(0x13000));
  EXPECT_EQ(v.pages(), 3u);
  EXPECT_TRUE(v.is_shared());
  EXPECT_EQ(v.file_index(0x10000), 7u);
  EXPECT_EQ(v.file_index(0x12abc), 9u);
  v.flags = kR;
  EXPECT_FALSE(v.is_shared());
}

TEST(Vma, PrintsSomething) {
  Vma v;
  v.start = 0x10000;
  v.end = 0x11000;
  v.flags = kR;
  std::ostringstream os;
  os << v;
  EXPECT_FALSE(os.str().empty());
}

// ---- flags_to_string -------------------------------------------------------

TEST(FlagsToString, NoneForZero) { EXPECT_EQ(flags_to_string(0), "NONE"); }

TEST(FlagsToString, NamesKnownBitsInOrder) {
  EXPECT_EQ(flags_to_string(kR), "READ");
  EXPECT_EQ(flags_to_string(kRW), "READ|WRITE");
  EXPECT_EQ(flags_to_string(kW | kR), "READ|WRITE");
  EXPECT_EQ(flags_to_string(kRW | flags::kMayRead | flags::kMayWrite),
            "READ|WRITE|MAYREAD|MAYWRITE");
  EXPECT_EQ(flags_to_string(flags::kMixedMap | flags::kShared),
            "SHARED|MIXEDMAP");
  EXPECT_EQ(flags_to_string(flags::kHugePage | flags::kNoHugePage |
                            flags::kMergeable),
            "HUGEPAGE|NOHUGEPAGE|MERGEABLE");
  EXPECT_EQ(flags_to_string(flags::kIo | flags::kPfnMap), "PFNMAP|IO");
}

TEST(FlagsToString, UnknownBitsInHex) {
  EXPECT_EQ(flags_to_string(0x100), "0x100");
  EXPECT_EQ(flags_to_string(kR | 0x100), "READ|0x100");
  EXPECT_EQ(flags_to_string(kR | 0x100 | 0x200), "READ|0x300");
  EXPECT_EQ(flags_to_string(VmFlags{1} << 40), "0x10000000000");
}

// ---- VmaNew ops through a driver mmap --------------------------------------

TEST(VmaNewViaMmap, SetupOpsReachTheVma) {
  System s(kLo, kHi);
  Addr a = Map(s, DriverAt(kLo, 2 * kP,
                           {VmaNewOp::kSetMixedMap, VmaNewOp::kSetIo,
                            VmaNewOp::kSetDontExpand, VmaNewOp::kSetDontCopy,
                            VmaNewOp::kSetDontDump, VmaNewOp::kTryClearMayExec},
                           kRW));
  ASSERT_EQ(a, kLo);
  auto v = s.vma_lookup(kLo);
  ASSERT_TRUE(v.has_value());
  const VmFlags want = flags::kMixedMap | flags::kIo | flags::kDontExpand |
                       flags::kDontCopy | flags::kDontDump;
  EXPECT_EQ(v->flags & want, want) << flags_to_string(v->flags);
  EXPECT_EQ(v->flags & flags::kMayExec, 0u) << flags_to_string(v->flags);
  EXPECT_EQ(v->flags & kRW, kRW);
  EXPECT_TRUE(s.is_mixedmap(kLo));
  ExpectInvariants(s);
}

TEST(VmaNewViaMmap, TryClearOfASetAccessBitFailsTheMmap) {
  System s(kLo, kHi);
  const System before = s;
  EXPECT_TRUE(IsErr(
      s.mmap(DriverAt(kLo, kP, {VmaNewOp::kTryClearMayWrite}, kRW)), Errc::kInval));
  EXPECT_TRUE(IsErr(
      s.mmap(DriverAt(kLo, kP, {VmaNewOp::kTryClearMayRead}, kR)), Errc::kInval));
  EXPECT_TRUE(IsErr(
      s.mmap(DriverAt(kLo, kP, {VmaNewOp::kTryClearMayExec}, kR | kX)),
      Errc::kInval));
  EXPECT_EQ(s, before);
}

}  // namespace
}  // namespace mmv::model::test
