#include "properties/stats.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <iomanip>
#include <iostream>
#include <sstream>

namespace mmv::props {
namespace {

class PrintStats : public ::testing::Environment {
 public:
  void TearDown() override {
    if (stats().muted() || stats().summary().empty()) return;
    std::cout << stats().summary() << '\n' << stats().reach().table() << std::endl;
  }
};

[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new PrintStats);

bool split_happened(const model::System& before, const model::System& after) {
  for (const auto& [block, leaf] : before.page_table().pmd_leaves) {
    if (!after.page_table().pmd_leaves.contains(block) &&
        after.page_table().pte_tables.contains(block))
      return true;
  }
  return false;
}

}  // namespace

Stats& stats() {
  static Stats s;
  return s;
}

void Stats::begin_case() {
  if (cases_ == 0) first_case_ = std::chrono::steady_clock::now();
  ++cases_;
  case_edges_.clear();
}

void Stats::end_case() {
  last_case_end_ = std::chrono::steady_clock::now();
  auto hit = [&](const char* k) { return case_edges_.contains(k); };
  RC_CLASSIFY(hit("pmd_split"), "pmd-split");
  RC_CLASSIFY(hit("thp_mapped"), "thp");
  RC_CLASSIFY(hit("insert_ebusy"), "ebusy-insert");
  RC_CLASSIFY(hit("zap_rejected"), "zap-rejected");
  RC_CLASSIFY(hit("enomem_injected"), "enomem");
}

void Stats::count(const cmd::Command& c, const std::string& out, const model::System& before,
                  const model::System& after, const TlbView& tlb) {
  ++commands_;
  ++ops_[static_cast<int>(c.op)];
  reach_.count(c, before);
  reach_.count_sizes(c, before, after, out, tlb);
  auto edge = [&](const char* name) {
    ++edges_[name];
    case_edges_[name] = true;
  };
  const auto& bpt = before.page_table();
  const auto& apt = after.page_table();
  if (apt.pmd_leaves.size() > bpt.pmd_leaves.size()) edge("thp_mapped");
  if (split_happened(before, after)) edge("pmd_split");
  if (c.op == cmd::Op::kInsertPage && out == "error EBUSY") edge("insert_ebusy");
  if (c.op == cmd::Op::kInsertPage && out == "ok") edge("insert_ok");
  if (out == "rejected") edge("zap_rejected");
  if (out == "zapped" && apt.ptes.size() < bpt.ptes.size()) edge("zap_cleared_ptes");
  if (before.allocation_failure_armed() && out == "error ENOMEM") edge("enomem_injected");
  if (c.op == cmd::Op::kRead && apt.ptes.size() > bpt.ptes.size() + 1) edge("fault_around");
  if (out == "error SIGBUS") edge("sigbus");
  if (out == "error SIGSEGV") edge("sigsegv");
  if (after.table_counts().pte < before.table_counts().pte) edge("tables_freed");
  if (after.vmas().size() < before.vmas().size() && c.op == cmd::Op::kMmap) edge("vma_merged");
  if (after.vmas().size() > before.vmas().size() &&
      (c.op == cmd::Op::kMunmap || c.op == cmd::Op::kMprotect))
    edge("vma_split");
  if (before.life() == LifeState::kLive && after.life() != LifeState::kLive) edge("teardown");
  if (out == "empty") edge("mmget_not_zero_empty");
  if (c.op == cmd::Op::kWriteback && after.files() != before.files()) edge("writeback_wrote");
  for (const auto& [id, f] : after.folios()) {
    if (f.kind == FolioKind::kAnon && !before.folios().contains(id) &&
        c.op == cmd::Op::kWrite && apt.ptes.size() == bpt.ptes.size()) {
      edge("cow");
      break;
    }
  }
}

std::string Stats::summary() const {
  if (cases_ == 0) return "";
  std::ostringstream os;
  const double secs = std::chrono::duration<double>(last_case_end_ - first_case_).count();
  os << "properties: " << cases_ << " cases, " << commands_ << " commands";
  if (secs > 0) {
    os << " in " << std::fixed << std::setprecision(1) << secs << " s (" << std::setprecision(0)
       << cases_ / secs << " cases/s, " << commands_ / secs << " commands/s)";
    os.unsetf(std::ios::floatfield);
  }
  os << "; ops:";
  for (int i = 0; i < cmd::kNumOps; ++i)
    if (ops_[i]) os << ' ' << cmd::op_name(static_cast<cmd::Op>(i)) << '=' << ops_[i];
  os << "; edge cases:";
  for (const auto& [name, n] : edges_) os << ' ' << name << '=' << n;
  return os.str();
}

}  // namespace mmv::props
