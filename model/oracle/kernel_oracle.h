// Oracle: runs OracleOps on the model (model::System) and on the real kernel
// (KernelSpace) side by side and lists every place where what user space can
// see differs. What is compared, and why, is documented at the top of
// kernel_oracle_test.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/oracle/kernel_activity.h"
#include "model/oracle/kernel_space.h"
#include "model/oracle/oracle_op.h"
#include "model/system.h"

namespace mmv::oracle {

// The scratch base for this process, found once (nullopt, with *why, if no
// candidate span is free).
std::optional<Addr> scratch_base(std::string* why);

// The initial contents of the temp files: page i of file f holds nonzero
// bytes, distinct across all pages of both files, at offsets 0, 1, 2048 and
// 4095 (the offsets gen_op() prefers for reads) and zero elsewhere. Sparse,
// so the model's PageBytes stay small.
std::vector<std::vector<PageBytes>> initial_files();

class Oracle {
 public:
  explicit Oracle(Addr base);

  // Applies op to both sides, then compares all observables. Returns the
  // disagreements (empty when the two sides agree).
  std::vector<std::string> step(const OracleOp& op);
  // Unmaps the whole span on both sides and compares again (file bytes
  // after the mappings are gone, empty layout).
  std::vector<std::string> finish();
  // Every op so far with both sides' results, one per line.
  const std::string& trace() const { return trace_; }

 private:
  std::vector<std::string> apply(const OracleOp& op, std::string* line);
  std::vector<std::string> compare_state();
  Addr rel(std::uint32_t page, std::uint32_t misalign) const {
    return base_ + std::uint64_t{page} * kPageSize + misalign;
  }
  // The address an OpRead/OpWrite names in the current model state.
  Addr access_addr(bool in_vma, std::uint32_t vma, std::uint32_t page,
                   std::uint32_t offset) const;
  // The model's (index % n)-th VMA; nullptr if there is none.
  const Vma* nth_vma(std::uint32_t index) const;
  // Whether a read of `a` meets the end-of-file fault-around edge, and which
  // side of it (see eof_edge in kernel_oracle.cc); counted in OracleTotals.
  enum class EofEdge { kNone, kLastPageWithoutTable, kLastPageWithTable };
  EofEdge eof_edge(Addr a) const;

  Addr base_;
  model::System model_;
  KernelSpace kernel_;
  std::vector<FileId> file_ids_;
  std::string trace_;
  std::size_t steps_ = 0;
};

// Runs a whole sequence on a fresh Oracle. nullopt if both sides agreed
// throughout; else a report: the trace up to the first disagreeing op and
// the disagreements. A run that disagreed while the kernel was migrating or
// reclaiming pages is run again (run_confirmed, kernel_activity.h): the
// sequence passes only if some run agrees.
std::optional<std::string> run_sequence(const OpSequence& seq);

// What run_sequence has checked in this process, for the job summary.
struct OracleTotals {
  std::uint64_t sequences = 0;
  std::uint64_t ops = 0;
  // Reach of the end-of-file edges (model/fault.cc, fault_around), counted
  // from the model's side of each read: reads that took SIGBUS, those after
  // which fault-around had mapped pages, and reads past EOF whose window
  // starts at the file's last page, without and with a PTE table there.
  std::uint64_t sigbus = 0;
  std::uint64_t sigbus_after_fault_around = 0;
  std::uint64_t eof_last_page_without_table = 0;
  std::uint64_t eof_last_page_with_table = 0;
  // populate (MADV_POPULATE_WRITE) calls, and those that failed after
  // mapping pages before the failing one (counted from the model's side).
  std::uint64_t populates = 0;
  std::uint64_t populate_failed_after_mapping = 0;
  // Runs that disagreed while the kernel was busy (kernel_activity.h) and
  // were made again.
  std::uint64_t busy_reruns = 0;
};
OracleTotals oracle_totals();

}  // namespace mmv::oracle
