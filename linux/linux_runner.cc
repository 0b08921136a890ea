#include "linux/linux_runner.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <new>
#include <sstream>

#include "linux/vma_shim.h"

namespace mmv::linux_side {
namespace {

// The model's error for a negative errno of the shim.
Errc errc_of(int err) {
  switch (-err) {
    case EPERM: return Errc::kPerm;
    case ENOMEM: return Errc::kNoMem;
    case EEXIST: return Errc::kExist;
    case EACCES: return Errc::kAccess;
    case EOVERFLOW: return Errc::kOverflow;
    case EFAULT: return Errc::kSegv;
    default: return Errc::kInval;
  }
}

Status status_of(int err) { return err == 0 ? Status{} : Status{errc_of(err)}; }

// Numbers anon_vmas 1, 2, ... in order of first appearance, whatever the
// side called them: only which VMAs share one can be compared.
template <class Key>
struct AnonVmaNames {
  std::map<Key, std::uint64_t> names;
  std::uint64_t operator()(Key k) {
    if (k == Key{}) return 0;
    return names.try_emplace(k, names.size() + 1).first->second;
  }
};

std::string describe(const std::vector<Vma>& vmas) {
  std::ostringstream os;
  for (const Vma& v : vmas) os << "  " << v << "\n";
  if (vmas.empty()) os << "  (none)\n";
  return os.str();
}

}  // namespace

bool covers(const cmd::Command& c) {
  switch (c.op) {
    case cmd::Op::kMmap:
      return c.mmap.fixed && c.mmap.setup.empty() && c.mmap.backing.kind != BackingKind::kDriver &&
             !(c.mmap.backing.kind == BackingKind::kAnon && c.mmap.shared) &&
             (c.mmap.backing.kind != BackingKind::kFile || c.mmap.backing.file < std::size(cmd::kFiles));
    case cmd::Op::kMunmap:
    case cmd::Op::kMprotect:
    case cmd::Op::kWrite: return true;
    default: return false;
  }
}

model::KernelRules tree_rules() {
  model::KernelRules r;
#if MMV_LINUX_612_ANON_MERGE
  r.merge_anon_vma_into_unfaulted = false;
#endif
  return r;
}

cmd::ModelRunner tree_model() { return cmd::ModelRunner(tree_rules()); }

LinuxRunner::LinuxRunner() : mm_(mmv_linux_mm_new()) {
  if (mm_ == nullptr) throw std::bad_alloc();
}

LinuxRunner::~LinuxRunner() { mmv_linux_mm_free(mm_); }

std::string LinuxRunner::apply(const cmd::Command& c) {
  switch (c.op) {
    case cmd::Op::kMmap: {
      const MmapRequest& r = c.mmap;
      // The request's own rule (model::System::mmap): one advice at a time.
      if (r.advice & ~(flags::kHugePage | flags::kNoHugePage) ||
          r.advice == (flags::kHugePage | flags::kNoHugePage) || (r.prot & ~flags::kProtMask)) {
        return cmd::outcome(Result<Addr>(Errc::kInval));
      }
      const bool file = r.backing.kind == BackingKind::kFile;
      const int err = mmv_linux_mmap(mm_, r.addr, r.length, r.prot, r.shared,
                                     file ? static_cast<int>(r.backing.file) : -1,
                                     file ? r.backing.pgoff : 0, r.advice);
      return cmd::outcome(err == 0 ? Result<Addr>(r.addr) : Result<Addr>(errc_of(err)));
    }
    case cmd::Op::kMunmap: return cmd::outcome(status_of(mmv_linux_munmap(mm_, c.addr, c.len)));
    case cmd::Op::kMprotect: return cmd::outcome(status_of(mmv_linux_mprotect(mm_, c.addr, c.len, c.prot)));
    case cmd::Op::kWrite: {
      const int err = mmv_linux_write_fault(mm_, c.addr);
      return err == 0 ? "fault" : cmd::outcome(status_of(err));
    }
    default: return "error: not a command of the linux side: " + cmd::to_string(c);
  }
}

std::vector<Vma> LinuxRunner::vmas(const cmd::ModelRunner& model) const {
  std::vector<mmv_linux_vma> raw(64);
  std::size_t n;
  while ((n = mmv_linux_vmas(mm_, raw.data(), raw.size())) > raw.size()) raw.resize(n);
  AnonVmaNames<const void*> name;
  std::vector<Vma> out;
  for (std::size_t i = 0; i < n; ++i) {
    const mmv_linux_vma& r = raw[i];
    Vma v;
    v.start = r.start;
    v.end = r.end;
    v.flags = r.flags;
    if (r.file >= 0) {
      v.backing.kind = BackingKind::kFile;
      v.backing.file = model.file_id(static_cast<std::uint32_t>(r.file));
      v.backing.pgoff = r.pgoff;
    }
    v.anon_vma = name(r.anon_vma);
    out.push_back(v);
  }
  return out;
}

std::optional<std::string> LinuxRunner::take_warning() {
  const char* w = mmv_linux_take_warning();
  if (w == nullptr) return std::nullopt;
  return std::string(w);
}

std::vector<Vma> model_vmas(const cmd::ModelRunner& model) {
  AnonVmaNames<std::uint64_t> name;
  std::vector<Vma> out;
  for (const auto& [start, v] : model.system().vmas()) {
    Vma copy = v;
    copy.anon_vma = name(v.anon_vma);
    out.push_back(copy);
  }
  return out;
}

cmd::StepResult step_and_compare(const cmd::Command& c, cmd::ModelRunner& model, LinuxRunner& side) {
  cmd::StepResult r;
  r.model = model.apply(c);
  r.impl = side.apply(c);
  const std::string what = cmd::to_string(c);
  if (c.op != cmd::Op::kWrite && r.model != r.impl) {
    r.mismatch = what + ": model " + r.model + ", linux " + r.impl;
    return r;
  }
  if (const auto w = side.take_warning()) {
    r.mismatch = what + ": mm/vma.c warned: " + *w;
    return r;
  }
  const std::vector<Vma> want = model_vmas(model), got = side.vmas(model);
  if (want != got) {
    r.mismatch = "after " + what + " the VMAs differ\nmodel:\n" + describe(want) + "linux:\n" + describe(got);
  }
  return r;
}

cmd::Replayed replay_commands(const std::vector<cmd::Command>& commands) {
  return cmd::replay_on<LinuxRunner>(commands, [](const cmd::Command& c, cmd::ModelRunner& model, LinuxRunner& side) {
    if (!covers(c)) {
      cmd::StepResult r;
      r.mismatch = cmd::to_string(c) + ": not a command of the linux side (mmap fixed, munmap, mprotect, write)";
      return r;
    }
    return step_and_compare(c, model, side);
  }, tree_model());
}

}  // namespace mmv::linux_side
