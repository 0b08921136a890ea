// ZapSpec: the sequential specification of one VMA of the zap workload
// (stress/zap_workload.h), cut down to what the workload's commands can
// observe: the bytes reads see and, in a driver VMA, which page slot each
// page maps. Page tables, rss, and dirty and accessed bits are left out,
// because no read, write, zap or vm_insert_page outcome depends on them. It is
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
// A zap of several pages reaches step() as one zap per page (zap_pieces in
// stress/zap_workload.h): a zap is not atomic, and the history says so.
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
