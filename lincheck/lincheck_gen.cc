// lincheck_gen: writes a random concurrent history that is linearizable by
// construction (or, with --violate, certainly not), for timing lincheck on
// histories of any size.
//
//   lincheck_gen --model=cas-register|kv [--processes=N] [--ops=M]
//                [--keys=K] [--info=PERCENT] [--seed=S] [--violate]
//
// Processes call operations on one true object; each takes effect at a
// random moment between its invocation and its completion, so some order
// explains every result. A process whose call ends in :info (a crash) is
// replaced by a new process id, as in Jepsen; its call took effect or not,
// at random. --violate changes one completed read's result to a value that
// no operation ever wrote. Output: the Jepsen log format for cas-register,
// EDN lines for kv (lincheck/history_file.h).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "testing/cli.h"

namespace {

struct Options {
  std::string model;
  int processes = 10;
  long ops = 1000;
  int keys = 10;
  int info_percent = 1;
  std::uint64_t seed = 1;
  bool violate = false;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "lincheck_gen: " << problem << "\n"
            << "usage: lincheck_gen --model=cas-register|kv [--processes=N] [--ops=M] [--keys=K] "
               "[--info=PERCENT] [--seed=S] [--violate]\n";
  std::exit(2);
}

long number(const std::string& name, const std::string& value, long lo, long hi) {
  const auto p = mmv::cli::parse_uint(name, value, static_cast<std::uint64_t>(lo), static_cast<std::uint64_t>(hi));
  if (!p.value) usage(p.error);
  return static_cast<long>(*p.value);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "usage: lincheck_gen --model=cas-register|kv [--processes=N] [--ops=M] [--keys=K] "
                   "[--info=PERCENT] [--seed=S] [--violate]\n"
                   "Writes a random history, linearizable by construction (or, with --violate, certainly not),\n"
                   "to standard output: Jepsen's log for cas-register, EDN lines for kv.\n"
                   "Manual: docs/lincheck.md.\n";
      std::exit(0);
    }
    if (a == "--violate") {
      o.violate = true;
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
    } else if (name == "--seed") {
      const auto p = mmv::cli::parse_seed(name, value);
      if (!p.value) usage(p.error);
      o.seed = *p.value;
    } else {
      usage("unknown option " + name);
    }
  }
  if (o.model.empty()) usage("--model is required");
  return o;
}

// One call in flight.
struct Call {
  int process;
  std::string f;
  int key = 0;
  long a = 0, b = 0;     // register: write value / cas from, to
  std::string value;     // kv: put/append value
  bool applied = false;  // has taken effect on the true object
  std::string result;    // once applied: the completion's value, as written
  bool ok = true;        // once applied: :ok or (cas) :fail
};

class Generator {
 public:
  explicit Generator(const Options& o) : o_(o), rng_(o.seed), registers_(1), kv_(o.keys) {
    for (int p = 0; p < o.processes; ++p) slots_.push_back({p, std::nullopt});
    next_process_ = o.processes;
  }

  void run() {
    long invoked = 0, completed = 0;
    while (completed < o_.ops) {
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
      if (static_cast<int>(rng_() % 100) < o_.info_percent) {
        // A crash: the call may or may not have taken effect.
        emit(c, "info", read ? ":timed-out" : input_text(c));
        s.process = next_process_++;  // a crashed process is not reused
      } else if (!c.applied) {
        if (rng_() % 2 == 0) apply(c);
        continue;
      } else {
        if (o_.violate && !violated_ && read && completed >= o_.ops / 2) {
          c.result = o_.model == "kv" ? "\"never written\"" : "-1";
          violated_ = true;
        }
        emit(c, c.ok ? "ok" : "fail", read ? c.result : input_text(c));
      }
      s.call.reset();
      ++completed;
    }
  }

 private:
  struct Slot {
    int process;
    std::optional<Call> call;
  };

  Call invoke(int process) {
    Call c;
    c.process = process;
    const unsigned dice = rng_() % 10;
    if (o_.model == "kv") {
      c.key = static_cast<int>(rng_() % o_.keys);
      c.f = dice < 5 ? "get" : dice < 7 ? "put" : "append";
      c.value = "x" + std::to_string(process) + "." + std::to_string(serial_++) + ";";
    } else {
      c.f = dice < 5 ? "read" : dice < 8 ? "write" : "cas";
      c.a = static_cast<long>(rng_() % 5);
      c.b = static_cast<long>(rng_() % 5);
    }
    emit(c, "invoke", c.f == "read" || c.f == "get" ? "nil" : input_text(c));
    return c;
  }

  void apply(Call& c) {
    c.applied = true;
    if (o_.model == "kv") {
      std::string& v = kv_[c.key];
      if (c.f == "get") c.result = "\"" + v + "\"";
      else if (c.f == "put") v = c.value;
      else v += c.value;
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

  void emit(const Call& c, const char* type, const std::string& value) {
    if (o_.model == "kv") {
      std::printf("{:process %d, :type :%s, :f :%s, :key \"%d\", :value %s}\n", c.process, type, c.f.c_str(), c.key,
                  value.c_str());
    } else {
      std::printf("INFO  jepsen.util - %d\t:%s\t:%s\t%s\n", c.process, type, c.f.c_str(), value.c_str());
    }
  }

  Options o_;
  std::mt19937_64 rng_;
  std::vector<std::optional<long>> registers_;
  std::vector<std::string> kv_;
  std::vector<Slot> slots_;
  int next_process_ = 0;
  long serial_ = 0;
  bool violated_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Generator(parse_args(argc, argv)).run();
  return 0;
}
