// Random concurrent histories that are linearizable by construction (or,
// with `violate`, certainly not), for timing lincheck on histories of any
// size and shape: lincheck_gen's (its options are this Options) and the
// checker's benchmark's.
//
// Processes call operations on one true object; each takes effect at a
// random moment between its invocation and its completion, so some order
// explains every result. A process whose call ends in :info (a crash) is
// replaced by a new process id, as in Jepsen; its call took effect or not,
// at random. With long-tailed durations a few calls stay open while
// hundreds of others come and go (a heavy-tailed number of completions:
// P(open across >= k) ~ 1/k), as in recorded histories of real stores.
//
// violate "never-written" changes one completed read's result to a value
// nobody wrote. "stale" (kv) changes one completed get's result to the
// key's value just before a change that returned before the get was
// called: a stale read, which no order explains (see stale_value in
// generate.cc) but which the search can only refute by trying the orders
// around it. The text is the Jepsen log format for cas-register, EDN lines
// for kv (lincheck/history_file.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmv::lin::gen {

struct Options {
  // Checked by lincheck_gen's option parser, not here.
  std::string model;
  int processes = 10;
  long ops = 1000;
  int keys = 10;
  int info_percent = 1;
  // Weights of the model's operations, in its order (kv: get, put, append;
  // cas-register: read, write, cas); empty: the default mix (50:20:30,
  // 50:30:20), drawn as before --mix existed so old seeds keep their files.
  std::vector<unsigned> mix;
  bool long_tailed = false;
  std::uint64_t seed = 1;
  std::string violate;  // "", "never-written" or "stale"
};

// The model's operations, in the order of Options::mix.
std::vector<std::string> kinds_of(const std::string& model);

struct Generated {
  std::string text;
  bool violated = false;  // a read was made wrong (when violate asked for one)
};
Generated generate(const Options& o);

}  // namespace mmv::lin::gen
