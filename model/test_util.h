// Helpers shared by the model's unit tests (model/*_test.cc). Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "model/describe.h"
#include "model/system.h"
#include "testing/marked_pages.h"

// gtest printers for the model's small value types, so that failed
// EXPECT_EQs show values instead of bytes. They live in the types' namespace.
namespace mmv {

inline void PrintTo(const Rss& r, std::ostream* os) {
  *os << "Rss{file=" << r.file << ", anon=" << r.anon << "}";
}
inline void PrintTo(const TableCounts& t, std::ostream* os) {
  *os << "TableCounts{pte=" << t.pte << ", pmd=" << t.pmd << ", pud=" << t.pud
      << "}";
}
inline void PrintTo(const PageView& p, std::ostream* os) {
  *os << "PageView{w=" << p.writable << " d=" << p.dirty << " y=" << p.young
      << " zero=" << p.zero_page << " pmd=" << p.pmd_mapped
      << " folio=" << p.folio << " sub=" << p.subpage << "}";
}
inline void PrintTo(ZapOutcome z, std::ostream* os) {
  *os << (z == ZapOutcome::kZapped ? "kZapped" : "kRejected");
}
inline void PrintTo(LifeState l, std::ostream* os) {
  *os << (l == LifeState::kLive       ? "kLive"
          : l == LifeState::kTornDown ? "kTornDown"
                                      : "kFreed");
}

}  // namespace mmv

namespace mmv::model::test {

inline constexpr Addr kP = kPageSize;
// A narrow first-fit window; kLo is 2 MiB aligned (THP tests rely on it).
inline constexpr Addr kLo = 0x10000000;
inline constexpr Addr kHi = 0x20000000;
inline constexpr VmFlags kR = flags::kRead;
inline constexpr VmFlags kW = flags::kWrite;
inline constexpr VmFlags kX = flags::kExec;
inline constexpr VmFlags kRW = flags::kRead | flags::kWrite;

// ---- Requests -------------------------------------------------------------

// Private anonymous memory at a fixed address (MAP_FIXED_NOREPLACE).
inline MmapRequest AnonAt(Addr addr, std::uint64_t len, VmFlags prot = kRW,
                          VmFlags advice = 0) {
  MmapRequest r;
  r.addr = addr;
  r.length = len;
  r.prot = prot;
  r.fixed = true;
  r.advice = advice;
  return r;
}

// Private anonymous memory placed by the model (hint 0: first fit).
inline MmapRequest AnonAnywhere(std::uint64_t len, Addr hint = 0,
                                VmFlags prot = kRW) {
  MmapRequest r;
  r.addr = hint;
  r.length = len;
  r.prot = prot;
  r.fixed = false;
  return r;
}

// A file mapping at a fixed address: page `pgoff` of `f` at `addr`.
inline MmapRequest FileAt(FileId f, std::uint64_t pgoff, Addr addr,
                          std::uint64_t len, bool shared, VmFlags prot = kRW) {
  MmapRequest r;
  r.addr = addr;
  r.length = len;
  r.prot = prot;
  r.shared = shared;
  r.fixed = true;
  r.backing.kind = BackingKind::kFile;
  r.backing.file = f;
  r.backing.pgoff = pgoff;
  return r;
}

// A shared driver mapping whose mmap handler applies `setup`.
inline MmapRequest DriverAt(Addr addr, std::uint64_t len,
                            std::vector<VmaNewOp> setup = {VmaNewOp::kSetMixedMap},
                            VmFlags prot = kRW) {
  MmapRequest r;
  r.addr = addr;
  r.length = len;
  r.prot = prot;
  r.shared = true;
  r.fixed = true;
  r.backing.kind = BackingKind::kDriver;
  r.setup = std::move(setup);
  return r;
}

// ---- Results --------------------------------------------------------------

template <class T>
std::string ResultString(const Result<T>& r) {
  if (!r.ok()) return "error " + std::string(errc_name(r.error()));
  if constexpr (std::is_void_v<T>) {
    return "ok";
  } else if constexpr (std::is_enum_v<T>) {
    return "ok (enum " + std::to_string(static_cast<int>(r.value())) + ")";
  } else {
    return "ok " + std::to_string(+r.value());
  }
}

template <class T>
::testing::AssertionResult IsOk(const Result<T>& r) {
  if (r.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected ok, got " << ResultString(r);
}

template <class T>
::testing::AssertionResult IsErr(const Result<T>& r, Errc e) {
  if (!r.ok() && r.error() == e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected error " << errc_name(e) << ", got " << ResultString(r);
}

inline ::testing::AssertionResult Zapped(const Result<ZapOutcome>& r) {
  if (r.ok() && r.value() == ZapOutcome::kZapped) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected kZapped, got "
                                       << ResultString(r);
}

inline ::testing::AssertionResult Rejected(const Result<ZapOutcome>& r) {
  if (r.ok() && r.value() == ZapOutcome::kRejected) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected kRejected, got "
                                       << ResultString(r);
}

// mmap that is expected to succeed; returns the address (0 on failure, which
// has already been reported).
inline Addr Map(System& s, const MmapRequest& r) {
  auto res = s.mmap(r);
  EXPECT_TRUE(IsOk(res)) << "mmap addr=0x" << std::hex << r.addr
                         << " len=0x" << r.length;
  return res.ok() ? res.value() : 0;
}

// ---- Contents -------------------------------------------------------------

// Recognisable page contents (testing/marked_pages.h).
using ::mmv::testing::Marked;
using ::mmv::testing::MarkedPages;

// The folio mapped at `a` (0 if nothing or the zero page is mapped).
inline FolioId FolioAt(const System& s, Addr a) {
  auto v = s.page(a);
  return v && !v->zero_page ? v->folio : 0;
}

inline const Folio* FindFolio(const System& s, FolioId id) {
  auto it = s.folios().find(id);
  return it == s.folios().end() ? nullptr : &it->second;
}

// The page-cache folio of page `index` of `f` (0 if not cached).
inline FolioId CachedFolio(const System& s, FileId f, std::uint64_t index) {
  auto fit = s.files().find(f);
  if (fit == s.files().end()) return 0;
  auto it = fit->second.page_cache.find(index);
  return it == fit->second.page_cache.end() ? 0 : it->second;
}

inline std::size_t PresentPages(const System& s, Addr lo, Addr hi) {
  std::size_t n = 0;
  for (Addr a = lo; a < hi; a += kPageSize) n += s.page(a).has_value();
  return n;
}

// ---- State comparison -----------------------------------------------------

inline void ExpectInvariants(const System& s) {
  auto v = s.check_invariants();
  std::string all;
  for (const auto& m : v) all += "  " + m + "\n";
  EXPECT_TRUE(v.empty()) << "invariant violations:\n" << all;
}

// Equal in everything observable except the two diagnostic counters
// (zap_rejections and bugs), which the caller checks separately.
inline ::testing::AssertionResult SameExceptDiagnostics(const System& a,
                                                        const System& b) {
  std::vector<std::string> bad;
  if (a.vmas() != b.vmas()) bad.push_back("vmas");
  if (!(a.page_table() == b.page_table())) bad.push_back("page_table");
  if (a.folios() != b.folios()) bad.push_back("folios");
  if (a.files() != b.files()) bad.push_back("files");
  if (!(a.rss() == b.rss())) bad.push_back("rss");
  if (!(a.table_counts() == b.table_counts())) bad.push_back("table_counts");
  if (a.mm_users() != b.mm_users()) bad.push_back("mm_users");
  if (a.mm_count() != b.mm_count()) bad.push_back("mm_count");
  if (a.life() != b.life()) bad.push_back("life");
  if (a.allocation_failure_armed() != b.allocation_failure_armed()) {
    bad.push_back("allocation_failure_armed");
  }
  if (bad.empty()) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure() << "states differ in:";
  for (const auto& x : bad) f << " " << x;
  return f << "\n" << diff(a, b);
}

}  // namespace mmv::model::test
