// The concurrent kernel oracle (concurrent_oracle.h): this machine's kernel,
// run by several threads at once, against ZapSpec and the reference model.
//
// KernelHistoriesAreLinearizable is the oracle proper: 10 seconds
// (MMV_ORACLE_SECONDS=S: S seconds) of histories, every one of which must be
// linearizable, and at least 10,000 operations and 1,000 of each overlap
// the checks are about (a read with a zap of its page, a write with an
// mprotect downgrade of its page, an access with an munmap or re-mmap of
// its page), so that a run that never overlapped cannot pass. (This machine
// makes about 25 times that; docs/oracle.md has the rates. Where load
// slows it, it runs up to a minute.) The seed fixes the command streams,
// not the interleavings: those are the kernel's and the CPUs'.
//
// AWrongSpecificationIsRejected shows that the oracle can say no: each
// deliberately wrong specification (Strictness) is rejected by the kernel's
// histories.
#include "model/oracle/concurrent_oracle.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "testing/cli.h"

namespace mmv::oracle {
namespace {

using stress::Operation;
constexpr Addr kP = kPageSize;

// Each line of the summary as "concurrent oracle: ..." (scripts/verify's
// summary picks them up).
void print(const ConcurrentReport& rep, const char* spec = "exact") {
  std::istringstream lines(rep.summary());
  for (std::string line; std::getline(lines, line);) std::printf("concurrent oracle (%s): %s\n", spec, line.c_str());
  for (const std::string& f : rep.findings) std::printf("FINDING %s", f.c_str());
}

TEST(ConcurrentOracle, KernelHistoriesAreLinearizable) {
  ConcurrentConfig cfg;
  cfg.seed = 20261207;
  cfg.seconds = 10;
  if (const char* s = cli::env("MMV_ORACLE_SECONDS")) cfg.seconds = cli::or_exit(cli::parse_seconds("MMV_ORACLE_SECONDS", s));
  // On a loaded machine the overlaps come slower: up to five more runs of
  // 10 s (seeds following) until the targets are met, so that load makes
  // the test longer, not red. A run that cannot meet them in a minute
  // fails: it would be no evidence.
  const auto met = [](const Reach& r, std::uint64_t ops) {
    return ops >= 10000 && r.read_zap >= 1000 && r.write_downgrade >= 1000 && r.access_remap >= 1000;
  };
  Reach reach;
  std::uint64_t ops = 0;
  for (int run = 0; run < 6 && (run == 0 || !met(reach, ops)); ++run, ++cfg.seed) {
    if (run > 0) cfg.seconds = 10;
    const ConcurrentReport rep = run_concurrent(cfg);
    ASSERT_EQ(rep.setup_error, "");
    print(rep);
    ASSERT_TRUE(rep.findings.empty()) << rep.findings.front();
    reach += rep.reach;
    ops += rep.ops;
  }
  EXPECT_GE(ops, 10000u);
  EXPECT_GE(reach.read_zap, 1000u);
  EXPECT_GE(reach.write_downgrade, 1000u);
  EXPECT_GE(reach.access_remap, 1000u);
}

TEST(ConcurrentOracle, AWrongSpecificationIsRejected) {
  for (Strictness s : {Strictness::kZapAtReturn, Strictness::kDowngradeAtCall}) {
    ConcurrentConfig cfg;
    cfg.seed = 20261207;
    cfg.seconds = 60;
    cfg.strictness = s;
    cfg.max_findings = 1;
    const ConcurrentReport rep = run_concurrent(cfg);
    ASSERT_EQ(rep.setup_error, "");
    print(rep, strictness_name(s));
    EXPECT_EQ(rep.findings.size(), 1u) << strictness_name(s) << " was never rejected";
  }
}

// ---- the parts, on hand-written histories ----------------------------------

cmd::Command read_at(Addr a) {
  cmd::Command c;
  c.op = cmd::Op::kRead;
  c.addr = a;
  return c;
}
cmd::Command write_at(Addr a, std::uint8_t v) {
  cmd::Command c = read_at(a);
  c.op = cmd::Op::kWrite;
  c.value = v;
  return c;
}
cmd::Command zap_at(Addr a, std::uint64_t len) {
  cmd::Command c;
  c.op = cmd::Op::kZap;
  c.addr = c.addr2 = a;
  c.len = len;
  return c;
}
cmd::Command protect(const stress::ZapVma& v, VmFlags prot) {
  cmd::Command c;
  c.op = cmd::Op::kMprotect;
  c.addr = v.start;
  c.len = v.pages * kP;
  c.prot = prot;
  return c;
}
Operation op(int client, std::uint64_t call, std::uint64_t ret, cmd::Command in, std::string out) {
  return Operation{client, call, ret, true, std::move(in), std::move(out)};
}

const stress::ZapVma& kAnon = stress::kRemapVmas[0];

// An anonymous VMA: a write, then a zap of two pages overlapping a read of
// the written byte that sees zero, and an mprotect downgrade overlapping a
// write that lands.
EpochHistory sample() {
  EpochHistory h;
  h.vma = 0;
  h.ops = {op(0, 0, 10, write_at(kAnon.start + kP + 1, 7), "ok"),
           op(0, 20, 60, zap_at(kAnon.start, 2 * kP), "zapped"),
           op(1, 30, 40, read_at(kAnon.start + kP + 1), "ok 0"),
           op(0, 70, 90, protect(kAnon, flags::kRead), "ok"),
           op(1, 75, 80, write_at(kAnon.start + 3, 5), "ok"),
           op(1, 100, 110, write_at(kAnon.start + 3, 6), "error SIGSEGV")};
  return h;
}

TEST(ConcurrentOracleParts, ChecksAndCountsOverlaps) {
  const EpochHistory h = sample();
  EXPECT_EQ(check_epoch(h, Strictness::kExact).verdict, stress::Verdict::kLinearizable);
  const Reach r = reach_of(check_epoch(h, Strictness::kExact).pieces);
  EXPECT_EQ(r.read_zap, 1u);
  EXPECT_EQ(r.write_downgrade, 1u);
  EXPECT_EQ(r.access_remap, 0u);
  // The wrong specifications reject it: the read saw the zap before the
  // zap returned, and the write landed after the downgrade was called.
  EXPECT_EQ(check_epoch(h, Strictness::kZapAtReturn).verdict, stress::Verdict::kNotLinearizable);
  EXPECT_EQ(check_epoch(h, Strictness::kDowngradeAtCall).verdict, stress::Verdict::kNotLinearizable);
}

TEST(ConcurrentOracleParts, ARejectedHistoryShrinksAndTheReferenceModelConfirms) {
  EpochHistory h = sample();
  // A read after everything that sees the zapped byte: impossible.
  h.ops.push_back(op(1, 200, 210, read_at(kAnon.start + kP + 1), "ok 7"));
  const EpochVerdict v = check_epoch(h, Strictness::kExact);
  ASSERT_EQ(v.verdict, stress::Verdict::kNotLinearizable);
  EXPECT_NE(v.failure.find("by ZapSpec and by the reference model"), std::string::npos) << v.failure;
  // Shrunk to the commands on page 1, where it fails: the writes to page 0
  // go; the write, the zap, the read that saw the zap, the mprotect (of
  // every page) and the read of 7 stay.
  const EpochHistory small = shrink_epoch(h, Strictness::kExact);
  ASSERT_EQ(small.ops.size(), 5u);
  for (std::size_t i : {0, 1, 2, 3}) EXPECT_EQ(small.ops[i].input, h.ops[i].input);
  EXPECT_EQ(small.ops[4].output, "ok 7");
  EXPECT_EQ(check_epoch(small, Strictness::kExact).verdict, stress::Verdict::kNotLinearizable);
  // A history cut while commands were running: their outcomes are unknown,
  // and the file says so (no completion).
  EpochHistory cut = h;
  cut.ops[3].responded = false;  // thread 0's last command
  std::stringstream file;
  write_history(file, cut, {});
  std::string error;
  const std::optional<EpochHistory> back = read_history(file, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_FALSE(back->ops[3].responded);
  EXPECT_TRUE(back->ops[2].responded);
  EXPECT_EQ(check_epoch(small, Strictness::kExact).verdict, stress::Verdict::kNotLinearizable);
}

TEST(ConcurrentOracleParts, HistoryFilesRoundTripInRealTimeOrder) {
  const EpochHistory h = sample();
  std::stringstream file;
  write_history(file, h, {"a comment"});
  EXPECT_EQ(file.str().rfind("; a comment\n{:process 0, :type :invoke, :f :write, :value \"write 0x40001001", 0), 0u)
      << file.str();
  std::string error;
  const std::optional<EpochHistory> back = read_history(file, &error);
  ASSERT_TRUE(back) << error;
  ASSERT_EQ(back->ops.size(), h.ops.size());
  EXPECT_EQ(back->vma, 0);
  // Times become line numbers: the same real-time order, the same verdicts.
  for (std::size_t i = 0; i < h.ops.size(); ++i) {
    EXPECT_EQ(back->ops[i].input, h.ops[i].input);
    EXPECT_EQ(back->ops[i].output, h.ops[i].output);
    for (std::size_t j = 0; j < h.ops.size(); ++j)
      EXPECT_EQ(back->ops[i].ret < back->ops[j].call, h.ops[i].ret < h.ops[j].call) << i << " " << j;
  }
  for (Strictness s : {Strictness::kExact, Strictness::kZapAtReturn})
    EXPECT_EQ(check_epoch(*back, s).verdict, check_epoch(h, s).verdict);
}

TEST(ConcurrentOracleParts, BadHistoryFilesAreRefusedWithTheirLine) {
  std::string error;
  std::stringstream not_a_command("{:process 0, :type :invoke, :f :read, :value \"read\"}\n"
                                  "{:process 0, :type :ok, :f :read, :value \"ok 0\"}\n");
  EXPECT_FALSE(read_history(not_a_command, &error));
  EXPECT_EQ(error.rfind("line 1: ", 0), 0u) << error;
  std::stringstream elsewhere("{:process 0, :type :invoke, :f :read, :value \"read 0x10\"}\n"
                              "{:process 0, :type :ok, :f :read, :value \"ok 0\"}\n");
  EXPECT_FALSE(read_history(elsewhere, &error));
  EXPECT_NE(error.find("not on the VMA"), std::string::npos) << error;
  std::stringstream empty("; nothing\n");
  EXPECT_FALSE(read_history(empty, &error));
  EXPECT_EQ(error, "no operations");
}

}  // namespace
}  // namespace mmv::oracle
