// The text form of the command vocabulary (testing/command.h): one command
// per line, words separated by spaces, every field spelled out so that
// parse_command(to_string(c)) == c. The same text appears in failure
// messages, in regression files (regressions/*.mmv) and in what the fuzzer
// and exploration write, so a failure seen anywhere can be saved and
// replayed as it was printed.
//
//   mmap fixed 0x40000000 len 0x4000 READ|WRITE shared file 0 pgoff 9
//   mmap hint 0x0 len 0x200000 READ|WRITE private anon advice HUGEPAGE
//   mmap fixed 0x40800000 len 0x2000 READ|WRITE shared driver setup mixedmap
//   munmap 0x40001000 len 0x1000          mprotect 0x40000000 len 0x2000 READ
//   populate 0x40000000 len 0x81000       (madvise MADV_POPULATE_WRITE)
//   read 0x40000010                        write 0x40000010 value 7
//   zap vma 0x40000000 at 0x40000000 size 0x2000   (also zap_under_vma_lock)
//   vm_insert_page slot 0 vma 0x40800000 at 0x40800000
//   put_page slot 0      writeback file 0      lock_vma_under_rcu 0x40000000
//   vma_lookup 0x40000000      alloc_page  mmgrab  mmdrop  mmget_not_zero
//   mmput  mmput_async  mmap_read_trylock  fail_next_allocation
//
// Numbers are hex (0x...) or decimal; flags are flags_to_string()'s names
// joined by '|' (or NONE, or a 0x... remainder).
//
// A regression file is a sequence of such lines plus '#' comment lines; the
// comments "# kind: model-vs-impl", "# caught: <what it caught>" and,
// optionally, "# fault: <fault_name>" are its header (regressions/README.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "testing/command.h"

namespace mmv::cmd {

// nullopt with *error set ("expected 'len' after the address, got 'x'") if
// `line` is not one command.
std::optional<Command> parse_command(std::string_view line, std::string* error);

struct CommandFile {
  std::map<std::string, std::string> header;  // "# key: value" comment lines
  std::vector<Command> commands;
};

// Parses a whole file; nullopt with *error ("line 4: ...") on the first bad line.
std::optional<CommandFile> parse_command_file(std::string_view text, std::string* error);

// Reads the regression file at `path`, which must say "# kind: KIND" and
// hold commands; nullopt with *error ("cannot read PATH", "PATH: line 4:
// ...", "PATH: the header must say '# kind: KIND'", "PATH: no commands").
// What replay and linux_replay read.
std::optional<CommandFile> load_command_file(const std::string& path, std::string_view kind, std::string* error);

// The ready regression file a failure prints: kind model-vs-impl, and as
// "caught" the first line of `mismatch`.
std::string regression_file(const std::vector<Command>& commands, const std::string& mismatch);

// A regression file for `commands`, with header lines in the order given.
std::string format_command_file(const std::vector<std::pair<std::string, std::string>>& header,
                                const std::vector<Command>& commands);

}  // namespace mmv::cmd
