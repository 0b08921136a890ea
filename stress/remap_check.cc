#include "stress/remap_check.h"

#include <algorithm>
#include <map>

#include "stress/zap_spec.h"
#include "stress/zap_workload.h"
#include "testing/model_runner.h"

namespace mmv::stress {
namespace {

constexpr Addr kP = kPageSize;

// The part of `c` on its first page.
cmd::Command first_page(cmd::Command c) {
  switch (c.op) {
    case cmd::Op::kMprotect:
    case cmd::Op::kMunmap: c.len = std::min(c.len, kP - c.addr % kP); break;
    case cmd::Op::kMmap: c.mmap.length = std::min(c.mmap.length, kP - c.mmap.addr % kP); break;
    case cmd::Op::kZap:
    case cmd::Op::kZapUnderVmaLock:
      c.addr = c.addr2;
      c.len = std::min(c.len, kP - c.addr2 % kP);
      break;
    default: break;
  }
  return c;
}

// What `c` answers when it does all its work.
std::string success(const cmd::Command& c) {
  switch (c.op) {
    case cmd::Op::kZap:
    case cmd::Op::kZapUnderVmaLock: return "zapped";
    case cmd::Op::kMmap: return cmd::outcome(Result<Addr>(c.mmap.addr));
    default: return "ok";
  }
}

}  // namespace

std::uint64_t remap_page(const cmd::Command& c) {
  const int v = vma_index(kRemapVmas, c);
  const bool zap = c.op == cmd::Op::kZap || c.op == cmd::Op::kZapUnderVmaLock;
  const Addr a = c.op == cmd::Op::kMmap ? c.mmap.addr : zap ? c.addr2 : c.addr;
  return static_cast<std::uint64_t>(v) << 32 | (a - kRemapVmas[v].start) / kP;
}

std::vector<Operation> remap_pieces(const std::vector<Operation>& recorded) {
  std::vector<Operation> out;
  for (const Operation& o : recorded) {
    const std::size_t from = out.size();
    if (o.responded) {
      append_recorded(out, o);
      if (out.size() == from + 1) out.back().input = first_page(out.back().input);
      continue;
    }
    Operation done = o;
    done.output = success(o.input);
    append_recorded(out, done);
    for (std::size_t i = from; i < out.size(); ++i) {
      out[i].responded = false;
      out[i].output.clear();
    }
  }
  return out;
}

RemapVerdict check_remap(int vma, const std::vector<Operation>& recorded, const RemapCheck& how) {
  RemapVerdict v;
  v.pieces = remap_pieces(recorded);
  // The munmaps of each page by call time, for in_munmap_window: only those
  // called before `o` returned and at most the longest munmap's duration
  // before `o` was called can overlap it (or, of unknown outcome, be
  // running still).
  struct Munmaps {
    std::vector<const Operation*> by_call;
    std::uint64_t longest = 0;
    std::vector<const Operation*> unknown;
  };
  std::map<std::uint64_t, Munmaps> munmaps;
  for (const Operation& u : v.pieces) {
    if (u.input.op != cmd::Op::kMunmap) continue;
    Munmaps& m = munmaps[remap_page(u.input)];
    if (u.responded) {
      m.by_call.push_back(&u);
      m.longest = std::max(m.longest, u.ret - u.call);
    } else {
      m.unknown.push_back(&u);
    }
  }
  for (auto& [page, m] : munmaps)
    std::sort(m.by_call.begin(), m.by_call.end(), [](const Operation* a, const Operation* b) { return a->call < b->call; });
  auto in_window = [&](const Operation& o) {
    if (!observes_munmap_window(o)) return false;
    auto it = munmaps.find(remap_page(o.input));
    if (it == munmaps.end()) return false;
    const Munmaps& m = it->second;
    const std::uint64_t from = o.call > m.longest ? o.call - m.longest : 0;
    auto u = std::lower_bound(m.by_call.begin(), m.by_call.end(), from,
                              [](const Operation* x, std::uint64_t t) { return x->call < t; });
    for (; u != m.by_call.end() && (*u)->call < o.ret; ++u)
      if (in_munmap_window(o, **u)) return true;
    return std::any_of(m.unknown.begin(), m.unknown.end(), [&](const Operation* x) { return in_munmap_window(o, *x); });
  };
  std::vector<Operation> checked;
  for (const Operation& o : v.pieces) {
    if (in_window(o)) continue;
    checked.push_back(o);
    if (how.adjust) how.adjust(checked.back());
  }
  const ZapVma& area = kRemapVmas[vma];
  const ZapSpec spec(area, cmd::file_contents(cmd::kFiles[0]));
  cmd::ModelRunner model;
  model.apply(map_command(area));
  for (auto& [page, part] :
       lin::partition<Operation, std::uint64_t>(checked, [](const Operation& o) { return remap_page(o.input); })) {
    const std::string where = "VMA " + std::to_string(vma) + " (" + zap_kind_name(area.kind) + "), page " +
                              std::to_string(page & 0xffffffff);
    v.result = check_with(spec, spec.initial(), part, how.budget);
    v.states += v.result.states;
    v.verdict = v.result.verdict;
    v.part = std::move(part);
    v.page = page;
    if (v.verdict == Verdict::kLinearizable) {
      // ZapSpec is held to the reference model: its witness order must give
      // every recorded outcome there too.
      cmd::ModelRunner replay = model;
      for (std::size_t i : v.result.order) {
        const Operation& o = v.part[i];
        if (const std::string got = replay.apply(o.input); o.responded && got != o.output) {
          v.verdict = Verdict::kNotLinearizable;
          v.failure = "ZapSpec's witness order for " + where + " does not replay on the reference model (a bug in "
                      "stress/zap_spec.cc): " + cmd::to_string(o.input) + " gave " + got + ", recorded " + o.output;
          return v;
        }
      }
      continue;
    }
    if (v.verdict == Verdict::kUnknown) {
      v.failure = "undecided, " + where + ": " + v.result.explanation;
      return v;
    }
    if (!how.model_has_last_word) {
      v.failure = "not linearizable, " + where + ":\n" + v.result.explanation;
      return v;
    }
    const CheckResult ref = check_linearizable<cmd::ModelRunner>(model, v.part, how.budget, cmd::state_hash);
    v.states += ref.states;
    if (ref.verdict == Verdict::kNotLinearizable) {
      v.failure = "not linearizable, " + where + ", by ZapSpec and by the reference model:\n" + ref.explanation;
      v.result = ref;
    } else if (ref.verdict == Verdict::kLinearizable) {
      v.failure = "ZapSpec rejects a history of " + where +
                  " that the reference model accepts (a bug in stress/zap_spec.cc):\n" + v.result.explanation;
    } else {
      v.failure = "not linearizable by ZapSpec, " + where + " (the reference model's check: " + ref.explanation +
                  "):\n" + v.result.explanation;
    }
    return v;
  }
  v.part.clear();
  return v;
}

}  // namespace mmv::stress
