// ZapSpec: the sequential specification of one VMA of the zap workload
// (stress/zap_workload.h), cut down to what the workload's commands can
// observe: the bytes reads see, whether and how each page is mapped
// (unmapped, PROT_NONE, read-only or read-write) and, in a driver VMA,
// which page slot each page maps. Page tables, rss, and dirty and accessed
// bits are left out, because no read, write, zap, mprotect, munmap, mmap or
// vm_insert_page outcome depends on them. The same specification judges the
// impl's zap stress workload and the host kernel's concurrent histories
// (model/oracle/concurrent_oracle.h), which add mprotect, munmap and mmap of
// the VMA's own range on anonymous and file VMAs. It is
// a model for lin::check (lincheck/lincheck.h): a state is one small sorted
// vector, cheap to copy, hash and compare, so the search runs at the speed
// of the search rather than of copying the reference model.
//
// It is a second specification beside the reference model, so it is held to
// that model twice: stress/zap_spec_test.cc compares their outcomes on
// random sequential runs, and run_zap (stress/workload.cc) replays each
// witness order ZapSpec finds through cmd::ModelRunner and re-checks with
// the reference model every history ZapSpec rejects. No verdict rests on
// ZapSpec alone.
//
// A zap, mprotect, munmap or mmap of several pages reaches step() as one
// command per page (page_pieces in stress/zap_workload.h): none is atomic,
// and the history says so. An munmap is not even one change per page: what
// its window shows (in_munmap_window there) reaches step() with an unknown
// outcome. An mmap must map the VMA's own backing
// (MAP_FIXED_NOREPLACE, at the VMA's own file offsets), as a re-mapping of
// its range after an munmap does.
//
// Invariants of a State: contents are never null or changed once shared;
// `bytes` is sorted, holds one entry per (unit,
// offset) at most, and only for bytes that differ from their base value
// (zero, or the file's original contents), so equal contents have equal
// representations; `hash` == rehash(*this).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/page_bytes.h"
#include "stress/zap_workload.h"
#include "testing/command.h"

namespace mmv::stress {

class ZapSpec {
 public:
  // What the VMA's commands can observe.
  struct Contents {
    std::array<std::int8_t, kZapMaxPages> mapped{};  // kDriver: page slot at each page, or -1
    std::array<std::uint8_t, kZapMaxPages> access{};  // each page's Access
    std::vector<std::uint32_t> bytes;  // unit << 20 | offset << 8 | value; unit: page (anon, file), slot (driver)
    friend bool operator==(const Contents&, const Contents&) = default;
  };
  // A step that changes nothing (a read, a rejected zap) shares its
  // contents with the state before it.
  struct State {
    std::shared_ptr<const Contents> contents;
    std::size_t hash = 0;
    friend bool operator==(const State& a, const State& b) {
      return a.hash == b.hash && (a.contents == b.contents || *a.contents == *b.contents);
    }
  };
  // How a page is mapped; kReadWrite, as set up, is 0 (a state's default).
  enum Access : std::uint8_t { kReadWrite = 0, kUnmapped, kNone, kReadOnly };
  using Input = cmd::Command;
  using Output = std::string;

  // `file` is file slot 0's original contents (used when vma.kind is kFile).
  ZapSpec(const ZapVma& vma, std::vector<PageBytes> file);

  State initial() const;
  // The state after `in`, if `in` may answer *out (any answer when out is
  // null); nullopt otherwise. `in` must be a zap_command() on this VMA.
  std::optional<State> step(const State& s, const Input& in, const Output* out) const;
  std::size_t hash(const State& s) const { return s.hash; }
  bool equal(const State& a, const State& b) const { return a == b; }
  // Whether every state step() accepts `in` answering *out on is left as it
  // was (lin::check then never makes it a choice): a load, and a store or a
  // zap that changed nothing by its answer (a fault, a rejected range, no
  // VMA). Not an mprotect's error: ENOMEM comes after the pages before the
  // hole changed.
  bool read_only(const Input& in, const Output* out) const {
    if (in.op == cmd::Op::kRead) return true;
    if (!out) return false;
    if (in.op == cmd::Op::kWrite) return out->starts_with("error ");
    if (in.op == cmd::Op::kZap || in.op == cmd::Op::kZapUnderVmaLock)
      return *out == "rejected" || *out == "error NO_VMA";
    return false;
  }

  // The outcome `in` has on `s` ("ok 7", "zapped", "error SIGBUS", ...).
  std::string outcome(const State& s, const Input& in) const;
  // kFile: VMA page i's contents, as writeback puts them on disk.
  PageBytes file_page(const State& s, std::uint64_t i) const;
  // The hash of s computed from scratch (step() updates it incrementally).
  static std::size_t rehash(const State& s);

 private:
  struct Effect;
  Effect effect(const State& s, const Input& in) const;
  std::uint8_t base(std::uint32_t unit, std::uint32_t offset) const;
  std::uint8_t byte(const State& s, std::uint32_t unit, std::uint32_t offset) const;

  ZapVma vma_;
  std::vector<PageBytes> file_;  // kFile: the VMA's pages of the file, original contents
};

}  // namespace mmv::stress
