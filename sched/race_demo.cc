// race_demo: two threads write one plain int with nothing ordering them --
// a data race -- either under the controlled scheduler (--sched) or as
// plain threads (--threads). ThreadSanitizer must report it both ways: the
// scheduler's hand-over must not hide races (sched/race_visible_test.cc).
#include <cstdio>
#include <cstring>
#include <thread>

#include "sched/sched.h"

namespace {
int g_shared = 0;  // the race

void writer(int t) {
  mmv::sched::point("before the write");
  g_shared = t + 1;
  mmv::sched::point("after the write");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--sched") == 0) {
    mmv::sched::Options o;
    o.schedule.strategy = mmv::sched::Strategy::kRandom;
    const auto r = mmv::sched::run(2, writer, o);
    std::printf("scheduled run %s, value %d\n", mmv::sched::ending_name(r.ending), g_shared);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--threads") == 0) {
    std::thread a(writer, 0), b(writer, 1);
    a.join();
    b.join();
    std::printf("plain threads, value %d\n", g_shared);
    return 0;
  }
  std::fprintf(stderr, "usage: race_demo --sched|--threads\n");
  return 2;
}
