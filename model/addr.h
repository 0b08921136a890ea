// Address-space geometry shared by the model and the implementation:
// 4 KiB pages, 48-bit virtual addresses, four levels of 512-entry tables
// (PGD -> PUD -> PMD -> PTE, P4D folded), as on x86-64 with 4-level paging.
#pragma once

#include <cstdint>

namespace mmv {

using Addr = std::uint64_t;

inline constexpr unsigned kPageShift = 12;
inline constexpr Addr kPageSize = Addr{1} << kPageShift;
inline constexpr unsigned kEntriesPerTable = 512;
inline constexpr unsigned kPmdShift = 21;  // one PTE table maps 2 MiB
inline constexpr unsigned kPudShift = 30;  // one PMD table maps 1 GiB
inline constexpr unsigned kPgdShift = 39;  // one PUD table maps 512 GiB
inline constexpr Addr kPmdSize = Addr{1} << kPmdShift;
inline constexpr Addr kPudSize = Addr{1} << kPudShift;
inline constexpr Addr kPgdSize = Addr{1} << kPgdShift;
inline constexpr unsigned kPagesPerPmd = kEntriesPerTable;  // pages in a THP

// User addresses live in [kMmapMinAddr, kTaskSize), like x86-64's
// mmap_min_addr default and TASK_SIZE_MAX with 4-level paging.
inline constexpr Addr kMmapMinAddr = 0x10000;
inline constexpr Addr kTaskSize = (Addr{1} << 47) - kPageSize;

constexpr Addr page_down(Addr a) { return a & ~(kPageSize - 1); }
constexpr bool page_aligned(Addr a) { return (a & (kPageSize - 1)) == 0; }
constexpr Addr pmd_down(Addr a) { return a & ~(kPmdSize - 1); }
constexpr Addr pud_down(Addr a) { return a & ~(kPudSize - 1); }
constexpr Addr pgd_down(Addr a) { return a & ~(kPgdSize - 1); }
constexpr bool pmd_aligned(Addr a) { return (a & (kPmdSize - 1)) == 0; }

// Rounds a length up to whole pages. Returns false if that overflows.
constexpr bool page_round_up(std::uint64_t len, std::uint64_t* out) {
  if (len > ~std::uint64_t{0} - (kPageSize - 1)) return false;
  *out = (len + kPageSize - 1) & ~(kPageSize - 1);
  return true;
}

// True if [a, a + len) and [b, b + blen) overlap. Both ranges are non-empty.
constexpr bool ranges_overlap(Addr a, std::uint64_t len, Addr b,
                              std::uint64_t blen) {
  return a < b + blen && b < a + len;
}

}  // namespace mmv
