#include "testing/impl_runner.h"

#include "impl/observe.h"
#include "impl/test_peer.h"

namespace mmv::cmd {
namespace {

std::string describe(const impl::VmaRef* v) {
  if (!v) return outcome_vma(nullptr);
  const Vma m = v->as_vma();
  return outcome_vma(&m);
}

}  // namespace

ImplRunner::ImplRunner()
    : kernel_(std::make_unique<impl::Kernel>()),
      observer_(impl::ARef<impl::Mm>::adopt(nullptr)) {
  for (const FileSpec& f : kFiles)
    files_.push_back(kernel_->create_file(file_contents(f),
                                          f.warm ? impl::Cache::kWarm : impl::Cache::kCold));
  users_.push_back(kernel_->mm_alloc(kWindowLo, kWindowHi));
  observer_ = users_.back()->grab();
}

ImplRunner::~ImplRunner() {
  users_.clear();
  grabs_.clear();
  kernel_->drain_work();
  observer_ = impl::ARef<impl::Mm>::adopt(nullptr);
  for (std::size_t i = 0; i < held_.pages.size(); ++i)
    if (held_.pinned[i]) (void)kernel_->put_page(held_.pages[i]);
  kernel_.reset();
}

std::string ImplRunner::apply(const Command& c) {
  std::string out;
  impl::MmWithUser* mm = user();
  const std::string no_user = "error NO_USER";
  switch (c.op) {
    case Op::kMmap: {
      if (!mm) { out = no_user; break; }
      MmapRequest r = c.mmap;
      if (r.backing.kind == BackingKind::kFile) r.backing.file = files_.at(r.backing.file);
      out = outcome(mm->mmap(r));
      break;
    }
    case Op::kMunmap: out = mm ? outcome(mm->munmap(c.addr, c.len)) : no_user; break;
    case Op::kPopulate: out = mm ? outcome(mm->populate(c.addr, c.len)) : no_user; break;
    case Op::kMprotect: out = mm ? outcome(mm->mprotect(c.addr, c.len, c.prot)) : no_user; break;
    case Op::kRead: out = mm ? outcome(mm->read(c.addr, c.cpu)) : no_user; break;
    case Op::kWrite: out = mm ? outcome(mm->write(c.addr, c.value, c.cpu)) : no_user; break;
    case Op::kZap: {
      if (!mm) { out = no_user; break; }
      impl::MmapReadGuard g(*mm);
      impl::VmaRef* v = g.vma_lookup(c.addr);
      out = v ? outcome(Result<ZapOutcome>(v->zap_page_range_single(c.addr2, c.len)))
              : "error NO_VMA";
      break;
    }
    case Op::kZapUnderVmaLock: {
      if (!mm) { out = no_user; break; }
      if (auto g = mm->lock_vma_under_rcu(c.addr)) {
        out = outcome(Result<ZapOutcome>(g->vma().zap_page_range_single(c.addr2, c.len)));
      } else {
        // Sequentially the optimistic lock only fails where there is no VMA;
        // fall back like a page-fault handler would.
        impl::MmapReadGuard rg(*mm);
        impl::VmaRef* v = rg.vma_lookup(c.addr);
        out = v ? outcome(Result<ZapOutcome>(v->zap_page_range_single(c.addr2, c.len)))
                : "error NO_VMA";
      }
      break;
    }
    case Op::kAllocPage: out = outcome_page(kernel_->alloc_page()); break;
    case Op::kPutPage: out = outcome(kernel_->put_page(held_.pages.at(c.slot))); break;
    case Op::kInsertPage:
      out = mm ? outcome(mm->vm_insert_page(c.addr, c.addr2, held_.pages.at(c.slot))) : no_user;
      break;
    case Op::kWriteback: out = outcome(kernel_->writeback(files_.at(c.slot))); break;
    case Op::kMmgrab:
      grabs_.push_back(observer_->grab());
      out = "ok";
      break;
    case Op::kMmdrop:
      grabs_.pop_back();
      out = "ok";
      break;
    case Op::kMmgetNotZero:
      if (auto u = observer_->mmget_not_zero()) {
        users_.push_back(std::move(*u));
        out = "got";
      } else {
        out = "empty";
      }
      break;
    case Op::kMmput:
      users_.pop_back();
      out = "ok";
      break;
    case Op::kMmputAsync:
      users_.back().into_raw()->mmput_async();
      users_.pop_back();
      kernel_->drain_work();
      out = "ok";
      break;
    case Op::kLockVmaUnderRcu: {
      if (!mm) { out = no_user; break; }
      if (auto g = mm->lock_vma_under_rcu(c.addr)) {
        out = describe(&g->vma());
      } else {
        // The optimistic lock may fail while a writer is active; the caller
        // then falls back to the mmap read lock (sequentially it fails only
        // where there is no VMA, and the fallback finds none either).
        impl::MmapReadGuard rg(*mm);
        out = describe(rg.vma_lookup(c.addr));
      }
      break;
    }
    case Op::kMmapReadTrylock:
      if (!mm) { out = no_user; break; }
      out = impl::MmapReadGuard::try_lock(*mm) ? "locked" : "busy";
      break;
    case Op::kVmaLookup: {
      if (!mm) { out = no_user; break; }
      impl::MmapReadGuard g(*mm);
      out = describe(g.vma_lookup(c.addr));
      break;
    }
    case Op::kFailNextAllocation:
      kernel_->fail_next_allocation();
      out = "ok";
      break;
  }
  account(c, out, held_);
  return out;
}

std::vector<std::vector<Addr>> ImplRunner::tlb_pages() {
  std::vector<std::vector<Addr>> out;
  for (int cpu = 0; cpu < impl::Tlbs::kCpus; ++cpu) out.push_back(impl::MmTestPeer::tlb_pages(*observer_, cpu));
  return out;
}

model::System ImplRunner::observe() { return impl::observe(*kernel_, *observer_); }

std::vector<std::string> ImplRunner::check_invariants() { return observer_->check_invariants(); }

std::vector<std::string> ImplRunner::check_invariants(const model::System& seen) {
  return impl::check_invariants(*observer_, seen);
}

}  // namespace mmv::cmd
