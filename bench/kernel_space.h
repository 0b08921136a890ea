// The host-kernel side of zap_bench: the same zap done by this machine's
// Linux kernel on a real mapping of this process, with
// madvise(MADV_DONTNEED). It offers the interface bench/zap_sides.h gives
// the impl and the model (see there), so one benchmark template drives all
// three.
//
// Placement: the kernel picks the address; map_anon over-allocates and trims
// so the area is aligned like the impl's and the model's (2 MiB, or 1 GiB
// for areas of 1 GiB and more), which gives the same number of page tables
// to walk. Areas that are not HUGEPAGE get MADV_NOHUGEPAGE, so a host set to
// THP "always" still measures 4 KiB pages there.
//
// Differences from the impl that the numbers include (docs/benchmarks.md):
// the host kernel is 6.x with CONFIG_PT_RECLAIM, so MADV_DONTNEED also frees
// PTE tables it left empty (the impl keeps them: SPEC.md section 5), and the
// following populate allocates them again; and a real TLB flush and page
// freeing to the buddy allocator happen where the impl models them.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "model/addr.h"

namespace mmv::bench {

enum class Huge { kNo, kYes };  // MmapRequest.advice = HUGEPAGE / MADV_HUGEPAGE

inline std::string errno_string(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// AnonHugePages of this process in kB (/proc/self/smaps_rollup), -1 if it
// cannot be read. Cheap enough to call outside the timed region.
inline long anon_huge_kb() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string key;
  long kb = -1;
  while (in >> key) {
    if (key == "AnonHugePages:") {
      in >> kb;
      return kb;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

class KernelSide {
 public:
  static constexpr const char* kName = "kernel";

  KernelSide() = default;
  KernelSide(const KernelSide&) = delete;
  KernelSide& operator=(const KernelSide&) = delete;
  ~KernelSide() {
    for (const auto& [addr, len] : maps_) ::munmap(reinterpret_cast<void*>(addr), len);
    if (fd_ >= 0) ::close(fd_);
  }

  // A private anonymous area of `len` bytes (`want` is the impl's fixed
  // address; the kernel chooses its own). Empty string on success.
  std::string map_anon(Addr /*want*/, std::uint64_t len, Huge huge, Addr* out) {
    const std::uint64_t align = len >= kPudSize ? kPudSize : kPmdSize;
    const std::uint64_t span = len + align;
    void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return errno_string("mmap");
    const Addr raw = reinterpret_cast<Addr>(p);
    const Addr a = (raw + align - 1) & ~(align - 1);
    if (a > raw) ::munmap(p, a - raw);
    if (raw + span > a + len) ::munmap(reinterpret_cast<void*>(a + len), raw + span - (a + len));
    if (::madvise(reinterpret_cast<void*>(a), len,
                  huge == Huge::kYes ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) {
      std::string e = errno_string("madvise(HUGEPAGE/NOHUGEPAGE)");
      ::munmap(reinterpret_cast<void*>(a), len);
      return e;
    }
    maps_.emplace_back(a, len);
    *out = a;
    return {};
  }

  std::string unmap(Addr addr, std::uint64_t len) {
    for (auto it = maps_.begin(); it != maps_.end(); ++it) {
      if (it->first == addr && it->second == len) {
        maps_.erase(it);
        if (::munmap(reinterpret_cast<void*>(addr), len) != 0) return errno_string("munmap");
        return {};
      }
    }
    return "unmap: not a mapping of this side";
  }

  // A CPU store of one byte (a write fault the first time).
  bool touch(Addr addr, std::uint8_t value) {
    *reinterpret_cast<volatile std::uint8_t*>(addr) = value;
    return true;
  }

  // A CPU load of one byte (a read fault the first time).
  bool load(Addr addr) {
    (void)*reinterpret_cast<volatile std::uint8_t*>(addr);
    return true;
  }

  // The measured call: the kernel's zap of [addr, addr + len).
  bool zap(Addr /*vma*/, Addr addr, std::uint64_t len) {
    return ::madvise(reinterpret_cast<void*>(addr), len, MADV_DONTNEED) == 0;
  }

  // A shared mapping of a new `pages`-page temporary file (unlinked at
  // once; in $TMPDIR or /tmp).
  std::string map_file_shared(Addr /*want*/, std::uint64_t pages, Addr* out) {
    const char* dir = std::getenv("TMPDIR");
    std::string path = std::string(dir && *dir ? dir : "/tmp") + "/zap_bench.XXXXXX";
    std::vector<char> buf(path.begin(), path.end());
    buf.push_back('\0');
    fd_ = ::mkstemp(buf.data());
    if (fd_ < 0) return errno_string("mkstemp");
    ::unlink(buf.data());
    const std::uint64_t len = pages * kPageSize;
    if (::ftruncate(fd_, static_cast<off_t>(len)) != 0) return errno_string("ftruncate");
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return errno_string("mmap(file)");
    maps_.emplace_back(reinterpret_cast<Addr>(p), len);
    *out = reinterpret_cast<Addr>(p);
    return {};
  }

  // After the loop: writes the file back (fsync) and checks that byte 0 of
  // page i reads back as expected(i) with pread. Empty string if so.
  template <class Expected>
  std::string check_file(std::uint64_t pages, Expected expected) {
    if (::fsync(fd_) != 0) return errno_string("fsync");
    for (std::uint64_t i = 0; i < pages; ++i) {
      std::uint8_t b = 0;
      if (::pread(fd_, &b, 1, static_cast<off_t>(i * kPageSize)) != 1) return errno_string("pread");
      if (b != expected(i)) {
        return "data lost: file page " + std::to_string(i) + " holds " + std::to_string(b) +
               ", wrote " + std::to_string(expected(i));
      }
    }
    return {};
  }

  // How many of the `blocks` 2 MiB blocks at `base` are PMD-mapped, from
  // AnonHugePages (this process's whole address space; only the benchmark's
  // HUGEPAGE area can hold THPs while the host is in "madvise" mode).
  // -1 if unknown.
  long thp_blocks(Addr /*base*/, std::uint64_t blocks) const {
    const long kb = anon_huge_kb();
    return kb < 0 ? -1 : std::min(kb / 2048, static_cast<long>(blocks));
  }

 private:
  std::vector<std::pair<Addr, std::uint64_t>> maps_;
  int fd_ = -1;
};

}  // namespace mmv::bench
