// lincheck_gen: writes a random concurrent history that is linearizable by
// construction (or, with --violate, certainly not), for timing lincheck on
// histories of any size and shape.
//
//   lincheck_gen --model=cas-register|kv [--processes=N] [--ops=M]
//                [--keys=K] [--info=PERCENT] [--mix=F:W,...]
//                [--durations=short|long-tailed] [--seed=S]
//                [--violate[=never-written|stale]]
//
// How the histories are made: lincheck/generate.h.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "lincheck/generate.h"
#include "testing/cli.h"

namespace {

constexpr const char* kUsage =
    "usage: lincheck_gen --model=cas-register|kv [--processes=N] [--ops=M] [--keys=K] [--info=PERCENT]\n"
    "                    [--mix=F:W,...] [--durations=short|long-tailed] [--seed=S]\n"
    "                    [--violate[=never-written|stale]]\n";

using mmv::lin::gen::Options;

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "lincheck_gen: " << problem << "\n" << kUsage;
  std::exit(2);
}

long number(const std::string& name, const std::string& value, long lo, long hi) {
  const auto p = mmv::cli::parse_uint(name, value, static_cast<std::uint64_t>(lo), static_cast<std::uint64_t>(hi));
  if (!p.value) usage(p.error);
  return static_cast<long>(*p.value);
}

// "get:45,put:5,append:50": a weight (0-1000) for each operation the model
// has, each named once; names left out weigh 0.
std::vector<unsigned> parse_mix(const std::string& model, const std::string& text) {
  const std::vector<std::string> kinds = mmv::lin::gen::kinds_of(model);
  std::vector<unsigned> weights(kinds.size(), 0);
  std::vector<bool> named(kinds.size(), false);
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    const std::size_t colon = item.find(':');
    if (colon == std::string::npos) usage("--mix: '" + item + "' is not NAME:WEIGHT (e.g. get:45,put:5,append:50)");
    const std::string name = item.substr(0, colon);
    std::size_t k = 0;
    while (k < kinds.size() && kinds[k] != name) ++k;
    if (k == kinds.size())
      usage("--mix: the " + model + " model has no operation '" + name + "'; it has " + kinds[0] + ", " + kinds[1] +
            " and " + kinds[2]);
    if (named[k]) usage("--mix: '" + name + "' is named twice");
    named[k] = true;
    weights[k] = static_cast<unsigned>(number("--mix " + name, item.substr(colon + 1), 0, 1000));
    at = comma + 1;
  }
  if (weights[0] + weights[1] + weights[2] == 0) usage("--mix: the weights add up to 0");
  return weights;
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string mix;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage
                << "Writes a random history, linearizable by construction (or, with --violate, certainly not),\n"
                   "to standard output: Jepsen's log for cas-register, EDN lines for kv.\n"
                   "Manual: docs/lincheck.md.\n";
      std::exit(0);
    }
    if (a == "--violate") {
      o.violate = "never-written";
      continue;
    }
    const std::size_t eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos) usage("unexpected argument " + a);
    const std::string name = a.substr(0, eq), value = a.substr(eq + 1);
    if (name == "--model") {
      if (value != "cas-register" && value != "kv") usage("unknown model '" + value + "'");
      o.model = value;
    } else if (name == "--processes") {
      o.processes = static_cast<int>(number(name, value, 1, 10000));
    } else if (name == "--ops") {
      o.ops = number(name, value, 1, 100000000);
    } else if (name == "--keys") {
      o.keys = static_cast<int>(number(name, value, 1, 100000));
    } else if (name == "--info") {
      o.info_percent = static_cast<int>(number(name, value, 0, 100));
    } else if (name == "--mix") {
      mix = value;
    } else if (name == "--durations") {
      o.long_tailed = mmv::cli::or_exit(mmv::cli::parse_choice(name, value, {"short", "long-tailed"}),
                                        "lincheck_gen") == "long-tailed";
    } else if (name == "--seed") {
      const auto p = mmv::cli::parse_seed(name, value);
      if (!p.value) usage(p.error);
      o.seed = *p.value;
    } else if (name == "--violate") {
      o.violate = mmv::cli::or_exit(mmv::cli::parse_choice(name, value, {"never-written", "stale"}), "lincheck_gen");
    } else {
      usage("unknown option " + name);
    }
  }
  if (o.model.empty()) usage("--model is required");
  if (!mix.empty()) o.mix = parse_mix(o.model, mix);
  if (o.violate == "stale" && o.model != "kv")
    usage("--violate=stale needs --model=kv (a register's values repeat, so a stale read may still fit)");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  const mmv::lin::gen::Generated g = mmv::lin::gen::generate(o);
  std::fwrite(g.text.data(), 1, g.text.size(), stdout);
  if (!o.violate.empty() && !g.violated) {
    std::cerr << "lincheck_gen: no read in the second half could be made " << o.violate
              << "; try more --ops or another --seed\n";
    return 1;
  }
  return 0;
}
