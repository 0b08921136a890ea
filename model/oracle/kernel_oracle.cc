#include "model/oracle/kernel_oracle.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace mmv::oracle {
namespace {

constexpr std::size_t kMaxReported = 16;  // disagreement lines per step

OracleTotals totals;  // what this process checked (oracle_totals)

std::string hex(std::uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

const char* errno_name(int e) {
  switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case EOVERFLOW: return "EOVERFLOW";
    default: return nullptr;
  }
}

std::string kernel_str(int e) {
  if (const char* n = errno_name(e)) return n;
  return "errno " + std::to_string(e) + " (" + std::strerror(e) + ")";
}

template <class T>
std::string model_str(const Result<T>& r) {
  std::ostringstream os;
  if (!r.ok()) {
    os << r.error();
  } else if constexpr (std::is_void_v<T>) {
    os << "ok";
  } else if constexpr (std::is_same_v<T, std::uint8_t>) {
    os << "ok " << hex(r.value());
  } else {
    os << "ok";
  }
  return os.str();
}

// Status/Result vs errno, for the syscalls whose errno maps one to one.
template <class T>
bool same_error(const Result<T>& m, int kerr) {
  if (m.ok() || kerr == 0) return m.ok() && kerr == 0;
  const auto e = errc_of(kerr);
  return e.has_value() && *e == m.error();
}

VmFlags model_prot(Prot p) {
  switch (p) {
    case Prot::kNone: return flags::kNone;
    case Prot::kRead: return flags::kRead;
    case Prot::kReadWrite: return flags::kRead | flags::kWrite;
  }
  return flags::kNone;
}

// A user-space access failed on the kernel (EFAULT) where the model raised
// a signal, or both succeeded.
bool same_access(bool model_ok, std::optional<Errc> model_err, int kerr) {
  if (model_ok || kerr == 0) return model_ok && kerr == 0;
  return kerr == EFAULT &&
         (*model_err == Errc::kSegv || *model_err == Errc::kBus);
}

std::string first_difference(const std::uint8_t* kernel, const std::uint8_t* model) {
  std::size_t first = kPageSize;
  std::size_t count = 0;
  for (std::size_t i = 0; i < kPageSize; ++i) {
    if (kernel[i] != model[i]) {
      if (first == kPageSize) first = i;
      ++count;
    }
  }
  std::ostringstream os;
  os << count << " bytes differ; first at offset " << hex(first) << ": kernel "
     << hex(kernel[first]) << ", model " << hex(model[first]);
  return os.str();
}

}  // namespace

std::optional<Addr> scratch_base(std::string* why) {
  static std::string reason;
  static const std::optional<Addr> base = find_scratch_base(kSpanPages, &reason);
  if (!base) *why = reason;
  return base;
}

std::vector<std::vector<PageBytes>> initial_files() {
  constexpr std::uint32_t kOffsets[] = {0, 1, 2048, 4095};
  std::vector<std::vector<PageBytes>> files(kNumFiles);
  for (int f = 0; f < kNumFiles; ++f) {
    for (std::uint64_t i = 0; i < kFilePages; ++i) {
      PageBytes p;
      for (std::uint32_t k = 0; k < 4; ++k) {
        const auto tag = (f * 16 + i) * 4 + k;  // < 128: distinct, nonzero
        p.set(kOffsets[k], static_cast<std::uint8_t>(1 + tag));
      }
      files[f].push_back(p);
    }
  }
  return files;
}

Oracle::Oracle(Addr base)
    : base_(base),
      model_(base, base + kRegionPages * kPageSize),
      kernel_(base, kSpanPages, initial_files()) {
  for (auto& contents : initial_files()) {
    file_ids_.push_back(model_.create_file(std::move(contents), model::System::Cache::kWarm));
  }
  if (!kernel_.maps().empty()) {
    throw std::runtime_error("the scratch span " + hex(base) +
                             " is not free in /proc/self/maps at start");
  }
}

const Vma* Oracle::nth_vma(std::uint32_t index) const {
  const auto& vmas = model_.vmas();
  if (vmas.empty()) return nullptr;
  auto it = vmas.begin();
  std::advance(it, index % vmas.size());
  return &it->second;
}

Addr Oracle::access_addr(bool in_vma, std::uint32_t vma, std::uint32_t page,
                         std::uint32_t offset) const {
  const Vma* v = in_vma ? nth_vma(vma) : nullptr;
  if (v == nullptr) return rel(page, offset);
  return v->start + (page % v->pages()) * kPageSize + offset;
}

Oracle::EofEdge Oracle::eof_edge(Addr a) const {
  // A read of a past EOF whose fault-around window, clamped to EOF, starts
  // at the file's last page: the page just before a, in a's 16-page window
  // and in the same file VMA (model/fault.cc, fault_around).
  const auto it = model_.vmas().upper_bound(a);
  if (it == model_.vmas().begin()) return EofEdge::kNone;
  const Vma& v = std::prev(it)->second;
  if (a >= v.end || v.backing.kind != BackingKind::kFile || page_down(a) == v.start) return EofEdge::kNone;
  if (((a >> kPageShift) % 16) == 0) return EofEdge::kNone;
  const std::uint64_t size = model_.files().at(v.backing.file).size_pages;
  if (v.file_index(a) != size || v.file_index(page_down(a) - kPageSize) + 1 != size) return EofEdge::kNone;
  return model_.page_table().pte_tables.contains(pmd_down(a)) ? EofEdge::kLastPageWithTable
                                                              : EofEdge::kLastPageWithoutTable;
}

std::vector<std::string> Oracle::apply(const OracleOp& op, std::string* line) {
  std::vector<std::string> bad;
  std::ostringstream out;
  std::visit(
      [&](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, OpMmap>) {
          const bool file = o.kind != MapKind::kAnonPrivate;
          const bool shared = o.kind == MapKind::kFileShared;
          MmapRequest req;
          req.addr = (o.fixed || o.hint) ? rel(o.page, o.misalign) : 0;
          req.length = o.length;
          req.prot = model_prot(o.prot);
          req.shared = shared;
          req.fixed = o.fixed;
          if (file) {
            req.backing = Backing{BackingKind::kFile, file_ids_.at(o.file), o.pgoff};
          }
          const int kfile = file ? static_cast<int>(o.file) : -1;
          const auto m = model_.mmap(req);
          out << "model " << (m.ok() ? "ok B+" + hex(m.value() - base_) : model_str(m));
          Addr kaddr = 0;
          int kerr = 0;
          if (o.fixed) {
            kerr = kernel_.mmap(req.addr, o.length, prot_bits(o.prot), shared,
                                kfile, o.pgoff, true, &kaddr);
          } else if (m.ok()) {
            // First fit: the model's choice is given to the kernel as a fixed
            // address; the kernel's own placement is not compared.
            kerr = kernel_.mmap(m.value(), o.length, prot_bits(o.prot), shared,
                                kfile, o.pgoff, true, &kaddr);
          } else if (m.error() == Errc::kNoMem) {
            // No gap in the model's window: the kernel would place the
            // mapping elsewhere in the address space; not comparable.
            out << " | kernel not asked (no gap in the model's window)";
            return;
          } else {
            // Argument errors must be the kernel's too.
            kerr = kernel_.mmap(req.addr, o.length, prot_bits(o.prot), shared,
                                kfile, o.pgoff, false, &kaddr);
            if (kerr == 0) kernel_.munmap(kaddr, o.length);
          }
          out << " | kernel "
              << (kerr == 0 ? "ok B+" + hex(kaddr - base_) : kernel_str(kerr));
          const bool agree = m.ok() ? (kerr == 0 && kaddr == m.value())
                                    : same_error(m, kerr);
          if (!agree) bad.push_back("mmap result differs");
        } else if constexpr (std::is_same_v<T, OpMunmap>) {
          const auto m = model_.munmap(rel(o.page, o.misalign), o.length);
          const int k = kernel_.munmap(rel(o.page, o.misalign), o.length);
          out << "model " << model_str(m) << " | kernel " << kernel_str(k);
          if (!same_error(m, k)) bad.push_back("munmap result differs");
        } else if constexpr (std::is_same_v<T, OpMprotect>) {
          const auto m = model_.mprotect(rel(o.page, o.misalign), o.length,
                                         model_prot(o.prot));
          const int k = kernel_.mprotect(rel(o.page, o.misalign), o.length,
                                         prot_bits(o.prot));
          out << "model " << model_str(m) << " | kernel " << kernel_str(k);
          if (!same_error(m, k)) bad.push_back("mprotect result differs");
        } else if constexpr (std::is_same_v<T, OpRead>) {
          const Addr a = access_addr(o.in_vma, o.vma, o.page, o.offset);
          const EofEdge edge = eof_edge(a);
          const std::size_t ptes_before = model_.page_table().ptes.size();
          const auto m = model_.read(a);
          if (!m.ok() && m.error() == Errc::kBus) {
            ++totals.sigbus;
            if (model_.page_table().ptes.size() > ptes_before) ++totals.sigbus_after_fault_around;
            if (edge == EofEdge::kLastPageWithoutTable) ++totals.eof_last_page_without_table;
            if (edge == EofEdge::kLastPageWithTable) ++totals.eof_last_page_with_table;
          }
          std::uint8_t v = 0;
          const int k = kernel_.read_byte(a, &v);
          out << "B+" << hex(a - base_) << ": model " << model_str(m) << " | kernel "
              << (k == 0 ? "ok " + hex(v) : kernel_str(k));
          const bool agree =
              m.ok() ? (k == 0 && v == m.value())
                     : same_access(false, m.error(), k);
          if (!agree) bad.push_back("read result differs");
        } else if constexpr (std::is_same_v<T, OpWrite>) {
          const Addr a = access_addr(o.in_vma, o.vma, o.page, o.offset);
          const auto m = model_.write(a, o.value);
          const int k = kernel_.write_byte(a, o.value);
          out << "B+" << hex(a - base_) << ": model " << model_str(m)
              << " | kernel " << kernel_str(k);
          const bool agree = same_access(
              m.ok(), m.ok() ? std::nullopt : std::optional<Errc>(m.error()), k);
          if (!agree) bad.push_back("write result differs");
        } else if constexpr (std::is_same_v<T, OpPopulate>) {
          const std::size_t ptes_before = model_.page_table().ptes.size();
          const auto m = model_.populate(rel(o.page, o.misalign), o.length);
          ++totals.populates;
          if (!m.ok() && model_.page_table().ptes.size() > ptes_before) ++totals.populate_failed_after_mapping;
          const int k = kernel_.madvise_populate_write(rel(o.page, o.misalign), o.length);
          out << "model " << model_str(m) << " | kernel " << kernel_str(k);
          if (!same_error(m, k)) bad.push_back("populate result differs");
        } else {
          const Vma* vp = nth_vma(o.vma);
          if (vp == nullptr) {
            out << "no VMA: skipped";
            return;
          }
          const Vma v = *vp;
          const std::uint64_t first = o.first % v.pages();
          const std::uint64_t count =
              std::min<std::uint64_t>(o.count, v.pages() - first);
          const Addr start = v.start + first * kPageSize;
          const std::uint64_t size = count * kPageSize;
          const auto m = model_.zap_page_range_single(v.start, start, size);
          const int k = kernel_.madvise_dontneed(start, size);
          out << "[B+" << hex(start - base_) << ", +" << hex(size)
              << ") in VMA [B+" << hex(v.start - base_) << ", B+"
              << hex(v.end - base_) << "): model "
              << (m.ok() ? (m.value() == ZapOutcome::kZapped ? "zapped" : "rejected")
                         : model_str(m))
              << " | kernel madvise " << kernel_str(k);
          if (!(m.ok() && m.value() == ZapOutcome::kZapped && k == 0)) {
            bad.push_back("zap/madvise result differs");
          }
        }
      },
      op.op);
  *line = out.str();
  return bad;
}

std::vector<std::string> Oracle::compare_state() {
  std::vector<std::string> bad;
  auto report = [&bad](std::string s) {
    if (bad.size() < kMaxReported) bad.push_back(std::move(s));
  };

  // 1. Present bits (/proc/self/pagemap bit 63) vs the model's page table.
  std::string why;
  const auto present = kernel_.present_bits(&why);
  if (!present) {
    static bool noted = false;
    if (!noted) {
      std::cerr << "NOTE: kernel oracle: " << why
                << "; present bits are not compared\n";
      noted = true;
    }
  }
  for (std::uint64_t i = 0; i < kSpanPages; ++i) {
    const Addr a = base_ + i * kPageSize;
    const bool mp = model_.page(a).has_value();
    if (present && (*present)[i] != mp) {
      report("page B+" + hex(a - base_) + ": kernel pagemap present=" +
             std::to_string((*present)[i]) + ", model page " +
             (mp ? "present" : "absent"));
    }
  }

  // 2. Contents of every page present on both sides whose model VMA is
  // readable (only those: reading any other page would fault it in). Without
  // pagemap, the pages the model has present are read.
  std::array<std::uint8_t, kPageSize> kbuf{};
  for (std::uint64_t i = 0; i < kSpanPages; ++i) {
    const Addr a = base_ + i * kPageSize;
    if (!model_.page(a).has_value()) continue;
    if (present && !(*present)[i]) continue;
    const auto vma = model_.vma_lookup(a);
    if (!vma || !(vma->flags & flags::kRead)) continue;
    const auto mbytes = model_.peek(a);
    if (!mbytes) {
      report("page B+" + hex(a - base_) + ": model page() present but peek() empty");
      continue;
    }
    const int k = kernel_.read_page(a, kbuf.data());
    if (k != 0) {
      report("page B+" + hex(a - base_) + ": model VMA readable, kernel read " +
             kernel_str(k));
      continue;
    }
    const auto dense = mbytes->dense();
    if (std::memcmp(kbuf.data(), dense.data(), kPageSize) != 0) {
      report("page B+" + hex(a - base_) + " contents: " +
             first_difference(kbuf.data(), dense.data()));
    }
  }

  // 3. The files' bytes as read(2) sees them.
  for (int f = 0; f < kNumFiles; ++f) {
    for (std::uint64_t i = 0; i < kFilePages; ++i) {
      if (!kernel_.file_page(f, i, kbuf.data())) {
        report("file" + std::to_string(f) + " page " + std::to_string(i) +
               ": short pread");
        continue;
      }
      const auto dense = model_.file_page(file_ids_[f], i).dense();
      if (std::memcmp(kbuf.data(), dense.data(), kPageSize) != 0) {
        report("file" + std::to_string(f) + " page " + std::to_string(i) +
               " (pread): " + first_difference(kbuf.data(), dense.data()));
      }
    }
  }

  // 4. VMA layout modulo merging.
  std::vector<MapsEntry> mv;
  for (const auto& [start, v] : model_.vmas()) {
    MapsEntry e;
    e.start = v.start;
    e.end = v.end;
    e.read = (v.flags & flags::kRead) != 0;
    e.write = (v.flags & flags::kWrite) != 0;
    e.exec = (v.flags & flags::kExec) != 0;
    e.shared = (v.flags & flags::kMayShare) != 0;
    if (v.backing.kind == BackingKind::kFile) {
      e.file = kOtherFile;
      for (std::size_t f = 0; f < file_ids_.size(); ++f) {
        if (file_ids_[f] == v.backing.file) e.file = static_cast<int>(f);
      }
      e.pgoff = v.backing.pgoff;
    }
    mv.push_back(e);
  }
  const auto kn = normalize(kernel_.maps());
  const auto mn = normalize(mv);
  if (kn != mn) {
    std::ostringstream os;
    os << "layout (normalized) differs:\n      kernel /proc/self/maps:";
    if (kn.empty()) os << " (none)";
    for (const auto& e : kn) os << "\n        " << to_string(e, base_);
    os << "\n      model vmas():";
    if (mn.empty()) os << " (none)";
    for (const auto& e : mn) os << "\n        " << to_string(e, base_);
    report(os.str());
  }

  // 5. The model's own checks (its invariants and WARN-like bug reports).
  for (const auto& v : model_.check_invariants()) report("model invariant: " + v);
  for (const auto& b : model_.bugs()) report("model bug report: " + b);
  return bad;
}

std::vector<std::string> Oracle::step(const OracleOp& op) {
  std::string line;
  auto bad = apply(op, &line);
  std::ostringstream os;
  os << "  #" << steps_++ << " " << op << "\n      => " << line << "\n";
  trace_ += os.str();
  auto state = compare_state();
  bad.insert(bad.end(), state.begin(), state.end());
  return bad;
}

std::vector<std::string> Oracle::finish() {
  const std::uint64_t span = kSpanPages * kPageSize;
  std::string line;
  auto bad = apply(OracleOp{OpMunmap{0, 0, span}}, &line);
  trace_ += "  #end munmap(B, len " + hex(span) + ") (teardown)\n      => " + line + "\n";
  auto state = compare_state();
  bad.insert(bad.end(), state.begin(), state.end());
  return bad;
}

OracleTotals oracle_totals() { return totals; }

namespace {

// One run of seq on a fresh Oracle: nullopt if both sides agreed throughout.
std::optional<std::string> run_once(const OpSequence& seq) {
  std::string why;
  const auto base = scratch_base(&why);
  if (!base) return "kernel oracle setup: " + why;
  Oracle oracle(*base);
  auto fail = [&](const std::vector<std::string>& bad) {
    const char* params = std::getenv("RC_PARAMS");
    std::ostringstream os;
    os << "MODEL AND KERNEL DISAGREE (B = " << hex(*base)
       << ", RC_PARAMS=\"" << (params ? params : "") << "\")\n"
       << "trace (model | kernel):\n"
       << oracle.trace() << "disagreements after the last op:\n";
    for (const auto& b : bad) os << "    - " << b << "\n";
    return os.str();
  };
  for (const auto& op : seq.ops) {
    auto bad = oracle.step(op);
    if (!bad.empty()) return fail(bad);
  }
  auto bad = oracle.finish();
  if (!bad.empty()) return fail(bad);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> run_sequence(const OpSequence& seq) {
  ++totals.sequences;
  totals.ops += seq.ops.size();
  const ConfirmedRun r = run_confirmed([&] { return run_once(seq); }, this_kernel());
  totals.busy_reruns += r.busy.size();
  if (!r.report && !r.busy.empty()) {
    // Not a verdict, but not lost either: the log says what was discounted.
    std::fprintf(stderr,
                 "oracle: %zu run(s) of a %zu-op sequence disagreed while the kernel was busy (%s); "
                 "run %d agreed throughout\n",
                 r.busy.size(), seq.ops.size(), r.busy.front().c_str(), r.runs);
  }
  return r.report;
}

}  // namespace mmv::oracle
