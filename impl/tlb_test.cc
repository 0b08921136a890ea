// The software TLBs (impl/tlb.h) on their own: per-CPU entries, hits and
// misses by permission, and shootdowns by range. Through the mm, their
// effect is checked by the model-vs-impl property (a missing shootdown is a
// fault of the fault switch it must find) and the tlb stress workload.
#include "impl/tlb.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "impl/kernel.h"
#include "impl/mm.h"
#include "impl/test_peer.h"

namespace mmv::impl {
namespace {

class ImplTlb : public ::testing::Test {
 protected:
  ImplTlb() : folio_(kernel_.new_folio(FolioKind::kAnon, 0, 1)) { page().store(5, 42); }
  ~ImplTlb() override { folio_->put(); }
  Page& page() { return folio_->page(0); }

  Kernel kernel_;
  Folio* folio_;
  Tlbs tlbs_;
};

constexpr Addr kA = 0x40000000;

TEST_F(ImplTlb, AMissUntilFilledThenAHitOnThatCpuOnly) {
  EXPECT_FALSE(tlbs_.access(0, kA + 5, false, 0).has_value());
  tlbs_.fill(0, kA + 123, &page(), /*writable=*/false);
  EXPECT_EQ(tlbs_.access(0, kA + 5, false, 0), std::optional<std::uint8_t>(42));
  EXPECT_FALSE(tlbs_.access(1, kA + 5, false, 0).has_value()) << "CPU 1 has its own TLB";
  EXPECT_FALSE(tlbs_.access(0, kA + kPageSize + 5, false, 0).has_value()) << "another page";
}

TEST_F(ImplTlb, AReadOnlyEntryMissesAStoreAWritableOneTakesIt) {
  tlbs_.fill(2, kA, &page(), /*writable=*/false);
  EXPECT_FALSE(tlbs_.access(2, kA + 5, true, 7).has_value());
  EXPECT_EQ(page().load(5), 42) << "a miss stores nothing";
  tlbs_.fill(2, kA, &page(), /*writable=*/true);
  EXPECT_EQ(tlbs_.access(2, kA + 5, true, 7), std::optional<std::uint8_t>(7));
  EXPECT_EQ(page().load(5), 7);
}

TEST_F(ImplTlb, AShootdownTakesItsRangeFromEveryCpuAndNothingElse) {
  for (int cpu = 0; cpu < Tlbs::kCpus; ++cpu) {
    tlbs_.fill(cpu, kA, &page(), false);
    tlbs_.fill(cpu, kA + kPageSize, &page(), false);
  }
  tlbs_.flush(kA + kPageSize, kA + 2 * kPageSize);
  for (int cpu = 0; cpu < Tlbs::kCpus; ++cpu) {
    EXPECT_TRUE(tlbs_.access(cpu, kA, false, 0).has_value()) << cpu;
    EXPECT_FALSE(tlbs_.access(cpu, kA + kPageSize, false, 0).has_value()) << cpu;
  }
  tlbs_.flush_all();
  for (int cpu = 0; cpu < Tlbs::kCpus; ++cpu) EXPECT_FALSE(tlbs_.access(cpu, kA, false, 0).has_value()) << cpu;
}

TEST_F(ImplTlb, HeldListsEachCpusTranslations) {
  tlbs_.fill(3, kA + 7, &page(), true);
  tlbs_.fill(3, kA + 40 * kPageSize, &page(), false);
  const std::vector<Tlbs::Held> held = tlbs_.held(3);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].vpage, kA);
  EXPECT_TRUE(held[0].writable);
  EXPECT_EQ(held[1].vpage, kA + 40 * kPageSize);
  EXPECT_EQ(held[1].page, &page());
  EXPECT_TRUE(tlbs_.held(0).empty());
}

bool Mentions(const std::vector<std::string>& v, const std::string& what) {
  for (const std::string& s : v)
    if (s.find(what) != std::string::npos) return true;
  return false;
}

// Mm::check_invariants holds every CPU's translations to the page table
// (impl/mm.h, invariant 6): a translation nothing backs, or one with more
// permission than its entry, is reported.
TEST_F(ImplTlb, CheckInvariantsReportsATranslationItsEntryDoesNotAllow) {
  ARef<MmWithUser> mm = kernel_.mm_alloc(kA, kA + 64 * kPageSize);
  MmapRequest r;
  r.addr = kA;
  r.length = 2 * kPageSize;
  r.fixed = true;
  ASSERT_TRUE(mm->mmap(r).ok());
  ASSERT_TRUE(mm->write(kA, 1, 1).ok());
  ASSERT_TRUE(mm->read(kA + kPageSize, 2).ok());  // the zero page, read-only
  EXPECT_TRUE(mm->check_invariants().empty());
  MmTestPeer::plant_tlb(*mm, 3, kA + kPageSize, &Page::zero_page(), /*writable=*/true);
  EXPECT_TRUE(Mentions(mm->check_invariants(), "CPU 3's TLB maps 0x40001000 writable, its entry read-only"));
  MmTestPeer::plant_tlb(*mm, 3, kA + kPageSize, &page(), /*writable=*/false);
  EXPECT_TRUE(Mentions(mm->check_invariants(), "CPU 3's TLB maps 0x40001000 to another page than its entry"));
  MmTestPeer::plant_tlb(*mm, 0, kA + 9 * kPageSize, &page(), /*writable=*/false);
  EXPECT_TRUE(Mentions(mm->check_invariants(), "CPU 0's TLB maps 0x40009000, which nothing maps"));
}

TEST_F(ImplTlb, CpuIdsWrapAroundTheCpuCount) {
  tlbs_.fill(Tlbs::kCpus + 1, kA, &page(), false);
  EXPECT_TRUE(tlbs_.access(1, kA + 5, false, 0).has_value());
}

}  // namespace
}  // namespace mmv::impl
