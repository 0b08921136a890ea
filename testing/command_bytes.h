// Bytes to commands: how a coverage-guided fuzzer (fuzz/) drives the shared
// vocabulary (testing/command.h). Every byte string decodes to some sequence
// (nothing is rejected), and small changes to the bytes make small changes
// to the sequence, which is what lets the fuzzer's mutations explore.
//
// Layout: one command after the other, each an op byte followed by the
// bytes its fields need; a field read past the end reads 0. Decoding is
// incremental: each command is decoded against the model's state after the
// commands before it, so that an address can name "page k of the n-th VMA"
// (one address in two) or "the k-th mapped page" (one in four), as the
// property's generators aim at VMAs and mapped pages; the rest land in a
// 4 MiB window at kWindowLo. Either way they fall on a
// page, a 2 MiB boundary, one byte before or after a page, or at a byte
// offset. A HUGEPAGE mmap is mostly given a THP-capable shape. Lengths are
// mostly a few pages, sometimes 2 MiB multiples, 0, unaligned or
// overflowing; a populate's also runs to its VMA's end, or is 31 to 33, 127
// to 129 or 511 to 513 pages.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/system.h"
#include "testing/command.h"

namespace mmv::cmd {

inline constexpr std::size_t kMaxDecodedCommands = 64;

class CommandDecoder {
 public:
  CommandDecoder(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool done() const { return n_ == 0 || decoded_ >= kMaxDecodedCommands; }
  // The next command, aimed at `state` (the model's state so far).
  Command next(const model::System& state);

 private:
  std::uint8_t u8();
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  Addr addr(const model::System& state);
  std::uint64_t length();
  VmFlags prot();
  MmapRequest request(const model::System& state);

  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t decoded_ = 0;
};

}  // namespace mmv::cmd
