// The main of the benchmark binaries (zap_bench, lincheck_bench): --help
// prints the binary's line and its manual before Google Benchmark's options,
// and the binary's own default min time applies unless the command line
// sets one.
#pragma once

#include <benchmark/benchmark.h>

#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace mmv::bench {

inline int benchmark_main(int argc, char** argv, std::string_view help, std::string min_time,
                          void (*register_all)()) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help") std::cout << help << "\nGoogle Benchmark's options:\n" << std::flush;
  std::vector<char*> args(argv, argv + argc);
  bool has_min_time = false;
  for (int i = 1; i < argc; ++i)
    has_min_time |= std::string_view(argv[i]).starts_with("--benchmark_min_time=");
  if (!has_min_time) args.insert(args.begin() + 1, min_time.data());
  args.push_back(nullptr);
  int n = static_cast<int>(args.size()) - 1;
  register_all();
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace mmv::bench
