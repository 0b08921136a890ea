// Helpers shared by impl/'s unit tests. Header-only.
//
// Twin runs every operation on a model::System and on an impl Kernel + Mm
// side by side: each call checks that both return the same result, and
// ExpectSameState() that the impl, observed in the model's vocabulary
// (impl/observe.h), equals the model exactly. A directed test therefore
// states what it expects once (against the model's documented rules) and
// gets the impl checked against the model for free.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "impl/kernel.h"
#include "impl/mm.h"
#include "impl/observe.h"
#include "model/describe.h"
#include "model/system.h"
#include "model/test_util.h"

namespace mmv::impl::test {

using model::test::AnonAnywhere;
using model::test::AnonAt;
using model::test::DriverAt;
using model::test::FileAt;
using model::test::IsErr;
using model::test::IsOk;
using model::test::kHi;
using model::test::kLo;
using model::test::kP;
using model::test::kR;
using model::test::kRW;
using model::test::kW;
using model::test::kX;
using model::test::Marked;
using model::test::MarkedPages;
using model::test::Rejected;
using model::test::ResultString;
using model::test::Zapped;

inline void ExpectNoViolations(const std::vector<std::string>& v, const char* what) {
  std::string all;
  for (const auto& m : v) all += "  " + m + "\n";
  EXPECT_TRUE(v.empty()) << what << ":\n" << all;
}

template <class A, class B>
void ExpectSameResult(const Result<A>& model, const Result<B>& impl, const char* op) {
  EXPECT_EQ(ResultString(model), ResultString(impl)) << op << ": model vs impl";
}

class Twin {
 public:
  explicit Twin(Addr lo = kLo, Addr hi = kHi)
      : model(lo, hi), mm_ref_(kernel.mm_alloc(lo, hi)) {}
  ~Twin() {
    if (mm_ref_.get()) mm_ref_ = ARef<MmWithUser>::adopt(nullptr);
  }

  MmWithUser& mm() { return *mm_ref_; }

  FileId create_file(std::vector<PageBytes> pages, Cache cache = Cache::kWarm) {
    FileId m = model.create_file(pages, cache == Cache::kWarm ? model::System::Cache::kWarm
                                                              : model::System::Cache::kCold);
    FileId i = kernel.create_file(std::move(pages), cache);
    EXPECT_EQ(m, i);
    return i;
  }
  Result<FolioId> alloc_page() { return both(model.alloc_page(), kernel.alloc_page(), "alloc_page"); }
  Status put_page(FolioId id) { return both(model.put_page(id), kernel.put_page(id), "put_page"); }
  Status writeback(FileId f) { return both(model.writeback(f), kernel.writeback(f), "writeback"); }
  Result<Addr> mmap(const MmapRequest& r) { return both(model.mmap(r), mm().mmap(r), "mmap"); }
  Addr map(const MmapRequest& r) {
    auto res = mmap(r);
    EXPECT_TRUE(IsOk(res));
    return res.ok() ? res.value() : 0;
  }
  Status munmap(Addr a, std::uint64_t len) { return both(model.munmap(a, len), mm().munmap(a, len), "munmap"); }
  Status mprotect(Addr a, std::uint64_t len, VmFlags prot) {
    return both(model.mprotect(a, len, prot), mm().mprotect(a, len, prot), "mprotect");
  }
  Result<std::uint8_t> read(Addr a) { return both(model.read(a), mm().read(a), "read"); }
  Status write(Addr a, std::uint8_t v) { return both(model.write(a, v), mm().write(a, v), "write"); }
  Status populate(Addr a, std::uint64_t len) {
    return both(model.populate(a, len), mm().populate(a, len), "populate");
  }
  Result<ZapOutcome> zap(Addr vma_addr, Addr a, std::uint64_t size) {
    return both(model.zap_page_range_single(vma_addr, a, size),
                mm().zap_page_range_single(vma_addr, a, size), "zap");
  }
  Status vm_insert_page(Addr vma_addr, Addr a, FolioId page) {
    return both(model.vm_insert_page(vma_addr, a, page), mm().vm_insert_page(vma_addr, a, page),
                "vm_insert_page");
  }
  void fail_next_allocation() {
    model.fail_next_allocation();
    kernel.fail_next_allocation();
  }

  // The impl's state in the model's vocabulary.
  model::System observed() { return observe(kernel, mm()); }

  // Same state on both sides, and every invariant of both holds.
  void ExpectSameState() {
    const model::System seen = observed();
    EXPECT_TRUE(model == seen) << "model vs impl (model | impl):\n" << model::diff(model, seen);
    ExpectNoViolations(model.check_invariants(), "model invariants");
    ExpectNoViolations(mm().check_invariants(), "impl invariants");
  }

  // Gives up the test's user reference (the last one tears the mm down).
  void mmput() { mm_ref_.into_raw()->mmput(); }

  model::System model;
  Kernel kernel;

 private:
  template <class A, class B>
  B both(A model_result, B impl_result, const char* op) {
    ExpectSameResult(model_result, impl_result, op);
    return impl_result;
  }

  ARef<MmWithUser> mm_ref_;
};

}  // namespace mmv::impl::test
