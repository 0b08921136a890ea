// The impl and model sides of zap_bench (the kernel side is in
// bench/kernel_space.h). Each side is one fresh address space, and offers:
//
//   static constexpr const char* kName;               // "impl", "model", "kernel"
//   std::string map_anon(Addr want, std::uint64_t len, Huge huge, Addr* out);
//   std::string unmap(Addr addr, std::uint64_t len);
//   bool touch(Addr addr, std::uint8_t value);        // a CPU store (faults in)
//   bool load(Addr addr);                             // a CPU load (faults in)
//   bool zap(Addr vma, Addr addr, std::uint64_t len); // the measured call
//   std::string map_file_shared(Addr want, std::uint64_t pages, Addr* out);
//   std::string check_file(std::uint64_t pages, Expected expected);
//   long thp_blocks(Addr base, std::uint64_t blocks) const;  // PMD-mapped blocks
//   bool exit();                                      // impl, model: the last
//                                                     // mmput (exit_mmap)
//
// Strings are error messages (empty: success). The impl and the model map
// at the fixed address `want` (MAP_FIXED_NOREPLACE semantics); the kernel
// picks its own.
//
// zap is the model-shaped convenience of each: impl's
// MmWithUser::zap_page_range_single takes the mmap read lock, looks the VMA
// up and calls VmaRef::zap_page_range_single; the model's does the same
// sequentially. Nothing else happens inside the timed region.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/kernel_space.h"
#include "impl/kernel.h"
#include "impl/mm.h"
#include "model/errc.h"
#include "model/system.h"

namespace mmv::bench {

inline MmapRequest anon_request(Addr at, std::uint64_t len, Huge huge) {
  MmapRequest r;
  r.addr = at;
  r.length = len;
  r.fixed = true;
  r.advice = huge == Huge::kYes ? flags::kHugePage : 0;
  return r;
}

inline MmapRequest file_request(FileId f, Addr at, std::uint64_t len) {
  MmapRequest r;
  r.addr = at;
  r.length = len;
  r.shared = true;
  r.fixed = true;
  r.backing.kind = BackingKind::kFile;
  r.backing.file = f;
  return r;
}

template <class T>
std::string error_of(const Result<T>& r, const char* what) {
  if (r.ok()) return {};
  return std::string(what) + ": " + std::string(errc_name(r.error()));
}

class ImplSide {
 public:
  static constexpr const char* kName = "impl";

  std::string map_anon(Addr want, std::uint64_t len, Huge huge, Addr* out) {
    auto r = mm_->mmap(anon_request(want, len, huge));
    if (!r.ok()) return error_of(r, "impl mmap");
    *out = r.value();
    return {};
  }
  std::string unmap(Addr addr, std::uint64_t len) { return error_of(mm_->munmap(addr, len), "impl munmap"); }
  bool touch(Addr addr, std::uint8_t value) { return mm_->write(addr, value).ok(); }
  bool load(Addr addr) { return mm_->read(addr).ok(); }
  bool zap(Addr vma, Addr addr, std::uint64_t len) {
    auto r = mm_->zap_page_range_single(vma, addr, len);
    return r.ok() && r.value() == ZapOutcome::kZapped;
  }

  std::string map_file_shared(Addr want, std::uint64_t pages, Addr* out) {
    file_ = kernel_.create_file(std::vector<PageBytes>(pages), impl::Cache::kWarm);
    auto r = mm_->mmap(file_request(file_, want, pages * kPageSize));
    if (!r.ok()) return error_of(r, "impl mmap(file)");
    *out = r.value();
    return {};
  }
  template <class Expected>
  std::string check_file(std::uint64_t pages, Expected expected) {
    if (auto e = error_of(kernel_.writeback(file_), "impl writeback"); !e.empty()) return e;
    for (std::uint64_t i = 0; i < pages; ++i) {
      const std::uint8_t b = kernel_.disk_page(file_, i).get(0);
      if (b != expected(i)) {
        return "data lost: impl disk page " + std::to_string(i) + " holds " + std::to_string(b) +
               ", wrote " + std::to_string(expected(i));
      }
    }
    return {};
  }

  // Only the benchmark's area is populated, with one store per block: a
  // PMD-mapped block counts 512 anonymous pages, a 4 KiB fallback 1.
  long thp_blocks(Addr /*base*/, std::uint64_t blocks) const {
    const std::int64_t anon = mm_->rss().anon;
    const auto b = static_cast<std::int64_t>(blocks);
    return static_cast<long>((anon - b) / (kPagesPerPmd - 1));
  }

  impl::MmWithUser& mm() { return *mm_; }
  // Drops the only mm_users reference: the teardown runs here.
  bool exit() {
    { auto last = std::move(mm_); }
    return true;
  }

 private:
  impl::Kernel kernel_;  // declared first: must outlive mm_
  impl::ARef<impl::MmWithUser> mm_ = kernel_.mm_alloc();
  FileId file_ = 0;
};

class ModelSide {
 public:
  static constexpr const char* kName = "model";

  std::string map_anon(Addr want, std::uint64_t len, Huge huge, Addr* out) {
    auto r = s_.mmap(anon_request(want, len, huge));
    if (!r.ok()) return error_of(r, "model mmap");
    *out = r.value();
    return {};
  }
  std::string unmap(Addr addr, std::uint64_t len) { return error_of(s_.munmap(addr, len), "model munmap"); }
  bool touch(Addr addr, std::uint8_t value) { return s_.write(addr, value).ok(); }
  bool load(Addr addr) { return s_.read(addr).ok(); }
  bool zap(Addr vma, Addr addr, std::uint64_t len) {
    auto r = s_.zap_page_range_single(vma, addr, len);
    return r.ok() && r.value() == ZapOutcome::kZapped;
  }

  std::string map_file_shared(Addr want, std::uint64_t pages, Addr* out) {
    file_ = s_.create_file(std::vector<PageBytes>(pages), model::System::Cache::kWarm);
    auto r = s_.mmap(file_request(file_, want, pages * kPageSize));
    if (!r.ok()) return error_of(r, "model mmap(file)");
    *out = r.value();
    return {};
  }
  template <class Expected>
  std::string check_file(std::uint64_t pages, Expected expected) {
    if (auto e = error_of(s_.writeback(file_), "model writeback"); !e.empty()) return e;
    for (std::uint64_t i = 0; i < pages; ++i) {
      const std::uint8_t b = s_.disk_page(file_, i).get(0);
      if (b != expected(i)) {
        return "data lost: model disk page " + std::to_string(i) + " holds " + std::to_string(b) +
               ", wrote " + std::to_string(expected(i));
      }
    }
    return {};
  }

  long thp_blocks(Addr base, std::uint64_t blocks) const {
    long n = 0;
    for (std::uint64_t i = 0; i < blocks; ++i) {
      auto v = s_.page(base + i * kPmdSize);
      if (v && v->pmd_mapped) ++n;
    }
    return n;
  }

  bool exit() { return s_.mmput().ok(); }

 private:
  model::System s_;
  FileId file_ = 0;
};

}  // namespace mmv::bench
