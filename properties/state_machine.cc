#include "properties/state_machine.h"

#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <climits>

#include "model/describe.h"
#include "properties/gen.h"
#include "properties/stats.h"
#include "testing/impl_runner.h"
#include "testing/model_runner.h"

namespace mmv::props {
namespace {

using Base = rc::state::Command<cmd::ModelRunner, cmd::ImplRunner>;

int g_shortest = INT_MAX;
thread_local int t_steps = 0;

void fail(const std::string& why) {
  g_shortest = std::min(g_shortest, t_steps);
  RC_FAIL(why);
}

struct Step : Base {
  cmd::Command c;
  explicit Step(cmd::Command command) : c(std::move(command)) {}

  void checkPreconditions(const cmd::ModelRunner& m) const override {
    RC_PRE(cmd::precondition(c, m.holdings()));
  }
  void apply(cmd::ModelRunner& m) const override { (void)m.apply(c); }
  void run(const cmd::ModelRunner& before, cmd::ImplRunner& impl) const override {
    ++t_steps;
    cmd::ModelRunner after = before;
    const std::string expect = after.apply(c);
    const std::string got = impl.apply(c);
    stats().count(c, got, before.system(), after.system());
    if (expect != got) fail(cmd::to_string(c) + ": model " + expect + ", impl " + got);
    const model::System seen = impl.observe();
    if (!(after.system() == seen)) {
      fail("after " + cmd::to_string(c) + " the states differ (model | impl):\n" +
           model::diff(after.system(), seen));
    }
    const auto broken = impl.check_invariants();
    if (!broken.empty()) fail("after " + cmd::to_string(c) + ": " + broken.front());
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
  t_steps = 0;
  stats().begin_case();
  rc::state::check(initial, impl, gen_step);
  stats().end_case();
}

int shortest_failure() { return g_shortest == INT_MAX ? 0 : g_shortest; }
void reset_shortest_failure() { g_shortest = INT_MAX; }

}  // namespace mmv::props
