#include "testing/model_runner.h"

namespace mmv::cmd {

ModelRunner::ModelRunner(model::KernelRules rules) : sys_(kWindowLo, kWindowHi, rules) {
  for (const FileSpec& f : kFiles) {
    files_.push_back(sys_.create_file(file_contents(f), f.warm ? model::System::Cache::kWarm
                                                              : model::System::Cache::kCold));
  }
  (void)sys_.mmgrab();  // the observer reference
}

std::string ModelRunner::apply(const Command& c) {
  std::string out;
  switch (c.op) {
    case Op::kMmap: {
      MmapRequest r = c.mmap;
      if (r.backing.kind == BackingKind::kFile) r.backing.file = files_.at(r.backing.file);
      out = outcome(sys_.mmap(r));
      break;
    }
    case Op::kMunmap: out = outcome(sys_.munmap(c.addr, c.len)); break;
    case Op::kPopulate: out = outcome(sys_.populate(c.addr, c.len)); break;
    case Op::kMprotect: out = outcome(sys_.mprotect(c.addr, c.len, c.prot)); break;
    case Op::kRead: out = outcome(sys_.read(c.addr)); break;
    case Op::kWrite: out = outcome(sys_.write(c.addr, c.value)); break;
    case Op::kZap:
    case Op::kZapUnderVmaLock:
      out = outcome(sys_.zap_page_range_single(c.addr, c.addr2, c.len));
      break;
    case Op::kAllocPage: out = outcome_page(sys_.alloc_page()); break;
    case Op::kPutPage: out = outcome(sys_.put_page(held_.pages.at(c.slot))); break;
    case Op::kInsertPage:
      out = outcome(sys_.vm_insert_page(c.addr, c.addr2, held_.pages.at(c.slot)));
      break;
    case Op::kWriteback: out = outcome(sys_.writeback(files_.at(c.slot))); break;
    case Op::kMmgrab: out = outcome(sys_.mmgrab()); break;
    case Op::kMmdrop: out = outcome(sys_.mmdrop()); break;
    case Op::kMmgetNotZero: out = sys_.mmget_not_zero() ? "got" : "empty"; break;
    case Op::kMmput: out = outcome(sys_.mmput()); break;
    case Op::kMmputAsync: out = outcome(sys_.mmput_async()); break;
    case Op::kLockVmaUnderRcu:
    case Op::kVmaLookup: {
      if (sys_.life() != LifeState::kLive) {
        out = "error NO_USER";
        break;
      }
      auto v = sys_.vma_lookup(c.addr);
      out = outcome_vma(v ? &*v : nullptr);
      break;
    }
    case Op::kMmapReadTrylock:
      out = sys_.life() == LifeState::kLive ? "locked" : "error NO_USER";
      break;
    case Op::kFailNextAllocation:
      sys_.fail_next_allocation();
      out = "ok";
      break;
  }
  account(c, out, held_);
  return out;
}

}  // namespace mmv::cmd
