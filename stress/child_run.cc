#include "stress/child_run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

extern char** environ;

namespace mmv::stress {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> child_environment(const ChildRun& run) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : run.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The first line of `out` that contains `needle`, or empty.
std::string line_with(const std::string& out, const char* needle) {
  const auto at = out.find(needle);
  if (at == std::string::npos) return "";
  const auto begin = out.rfind('\n', at);
  const auto end = out.find('\n', at);
  return out.substr(begin == std::string::npos ? 0 : begin + 1,
                    (end == std::string::npos ? out.size() : end) - (begin == std::string::npos ? 0 : begin + 1));
}

void classify(ChildResult& r, bool timed_out) {
  // Sanitizer reports first: they decide the exit status they cause.
  const std::pair<const char*, Ending> reports[] = {
      {"WARNING: ThreadSanitizer:", Ending::kTsan},
      // TSan's allocator stopping a corrupted request (e.g. a vector torn
      // by a race, before the race itself is reported).
      {"ERROR: ThreadSanitizer:", Ending::kTsan},
      {"ERROR: AddressSanitizer:", Ending::kAsan},
      {"ERROR: LeakSanitizer:", Ending::kAsan},
      {"runtime error:", Ending::kUbsan},
  };
  for (const auto& [needle, ending] : reports) {
    if (std::string line = line_with(r.output, needle); !line.empty()) {
      r.ending = ending;
      r.evidence = line;
      return;
    }
  }
  if (timed_out) {
    r.ending = Ending::kHang;
    return;
  }
  if (std::string line = line_with(r.output, "lockdep: "); !line.empty() && r.signal == SIGABRT) {
    r.ending = Ending::kLockdep;
    r.evidence = line;
    return;
  }
  if (r.signal != 0) {
    r.ending = Ending::kCrash;
    r.evidence = std::string("killed by signal ") + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")";
    return;
  }
  if (r.exit_code == 1) {
    // The controlled scheduler's deadlock report (stress/workload.cc).
    if (std::string line = line_with(r.output, "deadlock: no thread can run"); !line.empty()) {
      r.ending = Ending::kDeadlock;
      r.evidence = line;
      return;
    }
    if (std::string line = line_with(r.output, "verdict=FAIL"); !line.empty()) {
      r.ending = Ending::kVerdict;
      r.evidence = line;
      return;
    }
  }
  if (r.exit_code == 0 && r.output.find("verdict=PASS") != std::string::npos) {
    r.ending = Ending::kClean;
    return;
  }
  r.ending = Ending::kOther;
  r.evidence = "exit code " + std::to_string(r.exit_code);
}

}  // namespace

const char* ending_name(Ending e) {
  switch (e) {
    case Ending::kClean: return "clean";
    case Ending::kVerdict: return "verdict";
    case Ending::kTsan: return "ThreadSanitizer";
    case Ending::kAsan: return "AddressSanitizer";
    case Ending::kUbsan: return "UndefinedBehaviorSanitizer";
    case Ending::kCrash: return "crash";
    case Ending::kHang: return "hang";
    case Ending::kLockdep: return "lockdep";
    case Ending::kDeadlock: return "deadlock";
    case Ending::kOther: return "other";
  }
  return "?";
}

ChildResult run_child(const ChildRun& run) {
  ChildResult r;
  const auto t0 = Clock::now();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    r.evidence = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> args = run.argv, env = child_environment(run);
  std::vector<char*> argv = c_strings(args), envp = c_strings(env);
  pid_t pid = -1;
  const int err = argv.size() > 1 ? posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) : EINVAL;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (err != 0) {
    close(fds[0]);
    r.evidence = "cannot start " + (args.empty() ? std::string("(no program)") : args[0]) + ": " + std::strerror(err);
    return r;
  }

  const auto deadline = t0 + run.timeout;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) continue;  // the deadline check above ends it
    const ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child (and anything it started) closed the pipe
    r.output.append(buf, static_cast<std::size_t>(got));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  classify(r, timed_out);
  return r;
}

std::string shell_line(const ChildRun& run) {
  std::string s;
  for (const auto& [k, v] : run.env) s += k + "=" + v + " ";
  for (std::size_t i = 0; i < run.argv.size(); ++i) s += (i ? " " : "") + run.argv[i];
  return s;
}

}  // namespace mmv::stress
