// run_confirmed (kernel_activity.h): which disagreements are run again and
// which are reported, with a scripted run and scripted vmstat readings.
#include "model/oracle/kernel_activity.h"

#include <gtest/gtest.h>

#include <deque>

namespace mmv::oracle {
namespace {

TEST(KernelActivity, ParsesTheCountersOfMigrationReclaimAndDroppedCaches) {
  const KernelActivity a = parse_vmstat(
      "nr_free_pages 5\npgmigrate_success 18\npgfault 99\ndrop_pagecache 2\npgsteal_kswapd 7\n"
      "pgmigrate_fail x\nthp_collapse_alloc 1\nbad line\n");
  ASSERT_EQ(a.counters.size(), 4u);
  EXPECT_EQ(a.counters[0], (std::pair<std::string, std::uint64_t>{"pgmigrate_success", 18}));
  EXPECT_EQ(a.counters[1].first, "drop_pagecache");
  EXPECT_EQ(a.counters[2].first, "pgsteal_kswapd");
  EXPECT_EQ(a.counters[3].first, "thp_collapse_alloc");
}

TEST(KernelActivity, SaysWhatMoved) {
  const KernelActivity a = parse_vmstat("pgmigrate_success 18\ndrop_pagecache 2\n");
  const KernelActivity b = parse_vmstat("pgmigrate_success 30\ndrop_pagecache 2\n");
  EXPECT_EQ(activity_between(a, a), "");
  EXPECT_EQ(activity_between(a, b), "pgmigrate_success +12");
}

TEST(KernelActivity, ThisMachineHasTheCounters) {
  const std::optional<KernelActivity> a = read_kernel_activity();
  ASSERT_TRUE(a.has_value()) << "/proc/vmstat unreadable or without pgmigrate_/pgsteal_ counters: "
                                "every oracle disagreement would be reported at once";
}

// A script: the outcomes of successive runs, and the successive readings
// of the counters (one before each run; after a disagreeing one, reads
// until three in a row agree).
struct Script {
  std::deque<std::optional<std::string>> runs;
  std::deque<std::uint64_t> migrations;
  int made = 0;
  int pauses = 0;
  ConfirmedRun go() {
    ActivitySource kernel{[this]() -> std::optional<KernelActivity> {
                            if (migrations.empty()) return std::nullopt;
                            const std::uint64_t m = migrations.front();
                            migrations.pop_front();
                            return parse_vmstat("pgmigrate_success " + std::to_string(m) + "\n");
                          },
                          [this] { ++pauses; }};
    ConfirmedRun r = run_confirmed(
        [this] {
          ++made;
          auto out = runs.front();
          runs.pop_front();
          return out;
        },
        kernel);
    EXPECT_TRUE(runs.empty()) << "runs left over";
    EXPECT_TRUE(migrations.empty()) << "readings left over";
    return r;
  }
};

TEST(RunConfirmed, ADisagreementOnAQuietKernelIsReportedAtOnce) {
  Script s{{"differ"}, {5, 5, 5, 5}};
  const ConfirmedRun r = s.go();
  EXPECT_EQ(r.report, "differ");
  EXPECT_EQ(s.made, 1);
  EXPECT_TRUE(r.busy.empty());
}

TEST(RunConfirmed, ADisagreementOnABusyKernelIsRunAgain) {
  Script s{{"differ", std::nullopt}, {5, 9, 9, 9, 9}};
  const ConfirmedRun r = s.go();
  EXPECT_FALSE(r.report.has_value());
  EXPECT_EQ(s.made, 2);
  EXPECT_EQ(r.busy, (std::vector<std::string>{"pgmigrate_success +4"}));
}

// The counter moved only after the run had ended (the event that touched
// our pages finished late): the settling reads see it.
TEST(RunConfirmed, ACounterThatMovesJustAfterTheRunStillCounts) {
  Script s{{"differ", std::nullopt}, {5, 5, 5, 7, 7, 7, 7}};
  const ConfirmedRun r = s.go();
  EXPECT_FALSE(r.report.has_value());
  EXPECT_EQ(r.busy, (std::vector<std::string>{"pgmigrate_success +2"}));
  EXPECT_EQ(s.pauses, 4);
}

TEST(RunConfirmed, ARepeatedDisagreementIsReportedOnceTheKernelIsQuiet) {
  Script s{{"first", "second"}, {5, 9, 9, 9, 9, 9, 9, 9}};
  const ConfirmedRun r = s.go();
  ASSERT_TRUE(r.report.has_value());
  EXPECT_EQ(r.report->rfind("second\n(run 2 of this sequence; the 1 before it disagreed too", 0), 0u) << *r.report;
  EXPECT_EQ(s.made, 2);
}

TEST(RunConfirmed, ABusyKernelGetsABoundedNumberOfRuns) {
  Script s;
  for (int i = 0; i < kMaxOracleRuns; ++i) {
    s.runs.push_back("differ");
    for (const int m : {2 * i, 2 * i + 1, 2 * i + 1, 2 * i + 1}) s.migrations.push_back(static_cast<std::uint64_t>(m));
  }
  const ConfirmedRun r = s.go();
  ASSERT_TRUE(r.report.has_value());
  EXPECT_EQ(s.made, kMaxOracleRuns);
  EXPECT_NE(r.report->find("a quiet machine may not repeat it"), std::string::npos) << *r.report;
}

TEST(RunConfirmed, WithoutVmstatNothingIsRunAgain) {
  Script s{{"differ"}, {}};
  EXPECT_EQ(s.go().report, "differ");
  EXPECT_EQ(s.made, 1);
}

TEST(RunConfirmed, AnAgreeingRunIsRunOnce) {
  Script s{{std::nullopt}, {5}};
  EXPECT_FALSE(s.go().report.has_value());
  EXPECT_EQ(s.made, 1);
}

}  // namespace
}  // namespace mmv::oracle
