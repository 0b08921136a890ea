// The random histories of lincheck_gen (lincheck/lincheck_gen.cc), as a
// library, so that the checker's benchmark (bench/lincheck_bench.cc) times
// exactly the histories the tool writes. How they are made: generate.h.
#include "lincheck/generate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace mmv::lin::gen {

std::vector<std::string> kinds_of(const std::string& model) {
  return model == "kv" ? std::vector<std::string>{"get", "put", "append"}
                       : std::vector<std::string>{"read", "write", "cas"};
}

namespace {

// One call in flight.
struct Call {
  long id = 0;  // its serial number
  int process;
  std::string f;
  int key = 0;
  long a = 0, b = 0;     // register: write value / cas from, to
  std::string value;     // kv: put/append value
  bool applied = false;  // has taken effect on the true object
  std::string result;    // once applied: the completion's value, as written
  bool ok = true;        // once applied: :ok or (cas) :fail
  long invoked_at = 0;   // the line of its invocation
  // Long-tailed durations: a call held open takes effect once `apply_at`
  // calls have completed (in all), and completes at `release_at` (-1: not
  // held; it takes effect and completes as a short call).
  long apply_at = -1, release_at = -1;
  bool crashes = false;  // held: it ends in :info
};

// A kv key's value changing, for --violate=stale: the value before the
// change, the call that made it, and the put the value before began with.
struct Change {
  std::string before;
  long by = 0;
  long root_put = -1;  // -1: `before` is "" or began with no put
};

class Generator {
 public:
  explicit Generator(const Options& o) : o_(o), rng_(o.seed), registers_(1), kv_(o.keys), roots_(o.keys, -1),
                                         changes_(o.keys) {
    for (int p = 0; p < o.processes; ++p) slots_.push_back({p, std::nullopt});
    next_process_ = o.processes;
  }

  bool violated() const { return violated_; }
  std::string& text() { return out_; }

  void run() {
    long invoked = 0;
    while (completed_ < o_.ops) {
      Slot& s = slots_[rng_() % slots_.size()];
      if (!s.call) {
        if (invoked < o_.ops) {
          s.call = invoke(s.process);
          ++invoked;
        }
        continue;
      }
      Call& c = *s.call;
      const bool read = c.f == "read" || c.f == "get";
      if (c.release_at >= 0) {  // held open, until the others are done if need be
        const bool draining = invoked == o_.ops;
        if (!c.applied && (completed_ >= c.apply_at || draining) && !(c.crashes && rng_() % 2 == 0)) apply(c);
        if (completed_ < c.release_at && !draining) continue;
        --held_;
        if (c.crashes) {
          crash(s, c, read);
        } else {
          if (!c.applied) apply(c);
          complete(c, read);
        }
      } else if (static_cast<int>(rng_() % 100) < o_.info_percent) {
        crash(s, c, read);
      } else if (!c.applied) {
        if (rng_() % 2 == 0) apply(c);
        continue;
      } else {
        complete(c, read);
      }
      s.call.reset();
      ++completed_;
    }
  }

 private:
  struct Slot {
    int process;
    std::optional<Call> call;
  };

  // A crash: the call may or may not have taken effect.
  void crash(Slot& s, Call& c, bool read) {
    emit(c, "info", read ? ":timed-out" : input_text(c));
    s.process = next_process_++;  // a crashed process is not reused
  }

  void complete(Call& c, bool read) {
    if (!o_.violate.empty() && !violated_ && read && completed_ >= o_.ops / 2) {
      if (o_.violate == "never-written") {
        c.result = o_.model == "kv" ? "\"never written\"" : "-1";
        violated_ = true;
      } else if (const std::optional<std::string> old = stale_value(c)) {
        c.result = "\"" + *old + "\"";
        violated_ = true;
      }
    }
    emit(c, c.ok ? "ok" : "fail", read ? c.result : input_text(c));
    if (o_.violate == "stale") returned_at_[c.id] = line_;
  }

  // A value c's key held before a change that returned before c was called,
  // such that no order puts it back: after that change the key holds its
  // value, or a put's made after it, and the put the old value began with
  // (if any) returned before the change was called, so it cannot come after
  // it. The latest such change gives the stalest read that is still hard.
  std::optional<std::string> stale_value(const Call& c) const {
    const std::vector<Change>& changes = changes_[c.key];
    for (auto ch = changes.rbegin(); ch != changes.rend(); ++ch) {
      const auto ret = returned_at_.find(ch->by);
      if (ret == returned_at_.end() || ret->second > c.invoked_at) continue;
      if (ch->root_put >= 0) {
        const auto root = returned_at_.find(ch->root_put);
        if (root == returned_at_.end() || root->second > invoked_line_.at(ch->by)) continue;
      }
      return ch->before;
    }
    return std::nullopt;
  }

  Call invoke(int process) {
    Call c;
    c.id = serial_;
    c.process = process;
    std::size_t kind = 0;  // in kinds_of's order
    if (o_.mix.empty()) {
      const unsigned dice = rng_() % 10;
      kind = dice < 5 ? 0 : dice < (o_.model == "kv" ? 7u : 8u) ? 1 : 2;
    } else {
      unsigned dice = static_cast<unsigned>(rng_() % (o_.mix[0] + o_.mix[1] + o_.mix[2]));
      while (dice >= o_.mix[kind]) dice -= o_.mix[kind++];
    }
    c.f = kinds_of(o_.model)[kind];
    if (o_.model == "kv") {
      c.key = static_cast<int>(rng_() % o_.keys);
      c.value = "x" + std::to_string(process) + "." + std::to_string(serial_) + ";";
    } else {
      c.a = static_cast<long>(rng_() % 5);
      c.b = static_cast<long>(rng_() % 5);
    }
    ++serial_;
    if (o_.long_tailed) hold(c);
    emit(c, "invoke", c.f == "read" || c.f == "get" ? "nil" : input_text(c));
    return c;
  }

  // Long-tailed durations: the number of other calls completing while this
  // one is open is Pareto-like, P(>= k) = 1/(k + 1) for k <= ops/4, so
  // most calls are short and a few stay open across hundreds of others.
  void hold(Call& c) {
    const double u = (static_cast<double>(rng_() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    const long cap = std::max(1L, o_.ops / 4);
    const long k = std::min(cap, static_cast<long>(std::floor(1 / u)) - 1);
    // A short call; and one slot at least is never held, so calls go on completing.
    if (k < 2 || held_ + 1 >= o_.processes) return;
    ++held_;
    c.apply_at = completed_ + static_cast<long>(rng_() % static_cast<unsigned long>(k + 1));
    c.release_at = completed_ + k;
    c.crashes = static_cast<int>(rng_() % 100) < o_.info_percent;
  }

  void apply(Call& c) {
    c.applied = true;
    if (o_.model == "kv") {
      std::string& v = kv_[c.key];
      if (c.f == "get") {
        c.result = "\"" + v + "\"";
        return;
      }
      if (o_.violate == "stale") changes_[c.key].push_back({v, c.id, roots_[c.key]});
      if (c.f == "put") {
        v = c.value;
        roots_[c.key] = c.id;
      } else {
        v += c.value;
      }
      return;
    }
    std::optional<long>& r = registers_[0];
    if (c.f == "read") {
      c.result = r ? std::to_string(*r) : "nil";
    } else if (c.f == "write") {
      r = c.a;
    } else {
      c.ok = r == c.a;
      if (c.ok) r = c.b;
    }
  }

  std::string input_text(const Call& c) const {
    if (o_.model == "kv") return "\"" + c.value + "\"";
    return c.f == "cas" ? "[" + std::to_string(c.a) + " " + std::to_string(c.b) + "]" : std::to_string(c.a);
  }

  void emit(Call& c, const char* type, const std::string& value) {
    ++line_;
    if (std::string(type) == "invoke") {
      c.invoked_at = line_;
      if (o_.violate == "stale") invoked_line_[c.id] = line_;
    }
    if (o_.model == "kv") {
      out_ += "{:process " + std::to_string(c.process) + ", :type :" + type + ", :f :" + c.f + ", :key \"" +
              std::to_string(c.key) + "\", :value " + value + "}\n";
    } else {
      out_ += "INFO  jepsen.util - " + std::to_string(c.process) + "\t:" + type + "\t:" + c.f + "\t" + value + "\n";
    }
  }

  Options o_;
  std::mt19937_64 rng_;
  std::vector<std::optional<long>> registers_;
  std::vector<std::string> kv_;
  std::vector<long> roots_;                  // per key: the put its value began with, or -1
  std::vector<std::vector<Change>> changes_;  // per key, in the order they took effect
  // --violate=stale: call id -> the line of its invocation, and of its
  // return (:ok or :fail; a crash never returns).
  std::map<long, long> invoked_line_, returned_at_;
  std::vector<Slot> slots_;
  int next_process_ = 0;
  long serial_ = 0;
  long completed_ = 0;
  long line_ = 0;
  int held_ = 0;  // calls held open now
  bool violated_ = false;
  std::string out_;
};

}  // namespace

Generated generate(const Options& o) {
  Generator g(o);
  g.run();
  return {std::move(g.text()), g.violated()};
}

}  // namespace mmv::lin::gen
