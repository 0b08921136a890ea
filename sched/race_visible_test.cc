// A planted data race (sched/race_demo.cc) is reported by ThreadSanitizer
// with the controlled scheduler as without it: the scheduler's hand-over
// creates no happens-before edge. Built in TSan builds only.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

// Runs the demo with `mode`; returns its output (stdout and stderr).
std::string run_demo(const std::string& mode) {
  const std::string command = std::string(MMV_RACE_DEMO) + " " + mode + " 2>&1";
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
  }
  return out;
}

TEST(SchedRace, TsanReportsAPlantedRaceWithAndWithoutTheScheduler) {
  for (const std::string mode : {"--threads", "--sched"}) {
    const std::string out = run_demo(mode);
    EXPECT_NE(out.find("WARNING: ThreadSanitizer: data race"), std::string::npos) << mode << ":\n" << out;
    EXPECT_NE(out.find("writer"), std::string::npos) << mode << ": the report names the racing function\n" << out;
  }
}

}  // namespace
