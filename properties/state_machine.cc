#include "properties/state_machine.h"

#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "properties/gen.h"
#include "properties/stats.h"
#include "testing/command_text.h"
#include "testing/compare.h"

namespace mmv::props {
namespace {

using Base = rc::state::Command<cmd::ModelRunner, cmd::ImplRunner>;

int g_shortest = INT_MAX;
thread_local std::vector<cmd::Command> t_ran;  // this case's commands so far

// Fails the case with `why` and the regression file that replays it
// (regressions/README.md): RapidCheck reports the shrunk case's message, so
// the file printed is the shrunk sequence.
void fail(const std::string& why) {
  g_shortest = std::min(g_shortest, static_cast<int>(t_ran.size()));
  RC_FAIL(why + "\n\nregression file (save as regressions/<name>.mmv; replay with build/<preset>/testing/replay FILE):\n" +
          cmd::regression_file(t_ran, why));
}

struct Step : Base {
  cmd::Command c;
  explicit Step(cmd::Command command) : c(std::move(command)) {}

  void checkPreconditions(const cmd::ModelRunner& m) const override {
    RC_PRE(cmd::precondition(c, m.holdings()));
  }
  void apply(cmd::ModelRunner& m) const override { (void)m.apply(c); }
  void run(const cmd::ModelRunner& before, cmd::ImplRunner& impl) const override {
    t_ran.push_back(c);
    cmd::ModelRunner after = before;
    // What the TLBs held, for the reach table's sizes: read only where a
    // cell needs it.
    const bool tlb_cell = c.op == cmd::Op::kRead || c.op == cmd::Op::kWrite || c.op == cmd::Op::kZap ||
                          c.op == cmd::Op::kZapUnderVmaLock || c.op == cmd::Op::kMunmap;
    const TlbView tlb = tlb_cell ? impl.tlb_pages() : TlbView{};
    const cmd::StepResult r = cmd::step_and_compare(c, after, impl);
    stats().count(c, r.impl, before.system(), after.system(), tlb);
    if (r.mismatch) fail(*r.mismatch);
  }
  void show(std::ostream& os) const override { os << c; }
};

rc::Gen<std::shared_ptr<const Base>> gen_step(const cmd::ModelRunner& m) {
  return rc::gen::map(gen_command(m), [](cmd::Command c) {
    return std::shared_ptr<const Base>(std::make_shared<const Step>(std::move(c)));
  });
}

}  // namespace

void model_vs_impl_case() {
  const cmd::ModelRunner initial;
  cmd::ImplRunner impl;
  t_ran.clear();
  stats().begin_case();
  rc::state::check(initial, impl, gen_step);
  stats().end_case();
}

int shortest_failure() { return g_shortest == INT_MAX ? 0 : g_shortest; }
void reset_shortest_failure() { g_shortest = INT_MAX; }

}  // namespace mmv::props
