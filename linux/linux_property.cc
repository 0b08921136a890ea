#include "linux/linux_property.h"

#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "linux/linux_runner.h"
#include "properties/gen.h"
#include "testing/command_text.h"

namespace mmv::linux_side {
namespace {

using Base = rc::state::Command<cmd::ModelRunner, LinuxRunner>;

Tally g_tally;
int g_shortest = INT_MAX;
thread_local std::vector<cmd::Command> t_ran;  // this case's commands so far

// Fails the case with `why` and the regression file that replays it: RapidCheck
// reports the shrunk case's message, so the file printed is the shrunk one.
void fail(const std::string& why) {
  g_shortest = std::min(g_shortest, static_cast<int>(t_ran.size()));
  const std::string first = why.substr(0, why.find('\n'));
  RC_FAIL(why +
          "\n\nregression file (save as regressions/<name>.linux; replay with build/<preset>/linux/linux_replay FILE):\n" +
          cmd::format_command_file({{"kind", "model-vs-linux"}, {"caught", first}}, t_ran));
}

// What a step did to the VMA tree, for the tally: counts of VMAs and of
// distinct anon_vmas, before and after.
void count(const cmd::Command& c, const std::string& out, const cmd::ModelRunner& before,
           const cmd::ModelRunner& after) {
  const std::size_t n0 = before.system().vmas().size(), n1 = after.system().vmas().size();
  auto anon_vmas = [](const cmd::ModelRunner& m) {
    std::set<std::uint64_t> ids;
    for (const auto& [s, v] : m.system().vmas())
      if (v.anon_vma) ids.insert(v.anon_vma);
    return ids.size();
  };
  ++g_tally.commands;
  switch (c.op) {
    case cmd::Op::kMmap:
      if (out.rfind("ok", 0) != 0) {
        ++g_tally.errors;
      } else {
        ++g_tally.mmap_ok;
        g_tally.mmap_merged += n1 <= n0;
      }
      break;
    case cmd::Op::kMunmap:
    case cmd::Op::kMprotect:
      if (out != "ok") ++g_tally.errors;
      g_tally.splits += n1 > n0 ? n1 - n0 : 0;
      g_tally.merges += n0 > n1 ? n0 - n1 : 0;
      break;
    case cmd::Op::kWrite: {
      const Vma* v0 = nullptr;
      for (const auto& [s, v] : before.system().vmas())
        if (v.contains(c.addr)) v0 = &v;
      if (v0 == nullptr || v0->anon_vma != 0) break;
      for (const auto& [s, v] : after.system().vmas()) {
        if (!v.contains(c.addr) || v.anon_vma == 0) continue;
        if (anon_vmas(after) > anon_vmas(before)) ++g_tally.anon_vma_new;
        else ++g_tally.anon_vma_shared;
      }
      break;
    }
    default: break;
  }
}

struct Step : Base {
  cmd::Command c;
  explicit Step(cmd::Command command) : c(std::move(command)) {}

  void checkPreconditions(const cmd::ModelRunner& m) const override {
    RC_PRE(cmd::precondition(c, m.holdings()) && covers(c));
  }
  void apply(cmd::ModelRunner& m) const override { (void)m.apply(c); }
  void run(const cmd::ModelRunner& before, LinuxRunner& side) const override {
    t_ran.push_back(c);
    cmd::ModelRunner after = before;
    const cmd::StepResult r = step_and_compare(c, after, side);
    count(c, r.model, before, after);
    if (r.mismatch) fail(*r.mismatch);
  }
  void show(std::ostream& os) const override { os << c; }
};

rc::Gen<std::shared_ptr<const Base>> gen_step(const cmd::ModelRunner& m) {
  return rc::gen::map(props::gen_vma_command(m), [](cmd::Command c) {
    return std::shared_ptr<const Base>(std::make_shared<const Step>(std::move(c)));
  });
}

}  // namespace

void model_vs_linux_case() {
  const cmd::ModelRunner initial = tree_model();
  LinuxRunner side;
  t_ran.clear();
  ++g_tally.cases;
  rc::state::check(initial, side, gen_step);
}

Tally tally() {
  Tally t = g_tally;
  t.shortest_failure = g_shortest == INT_MAX ? 0 : g_shortest;
  return t;
}

void reset_tally() {
  g_tally = Tally{};
  g_shortest = INT_MAX;
}

std::string describe(const Tally& t) {
  std::ostringstream os;
  os << t.cases << " sequences, " << t.commands << " commands ("
     << (t.cases ? static_cast<double>(t.commands) / static_cast<double>(t.cases) : 0.0)
     << " a sequence); mmap ok " << t.mmap_ok << " (" << t.mmap_merged << " merged into a neighbour), "
     << t.splits << " VMAs split off, " << t.merges << " merged away, anon_vmas " << t.anon_vma_new
     << " new and " << t.anon_vma_shared << " taken from a neighbour, " << t.errors << " calls refused";
  return os.str();
}

}  // namespace mmv::linux_side
