// Named lifetime invariants (SPEC.md section 1): what the last mmput leaves,
// what the last mmdrop sees, and mmget_not_zero after the last put.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "impl/kernel.h"
#include "impl/mm.h"
#include "impl/observe.h"
#include "impl/vma.h"
#include "model/describe.h"
#include "properties/gen.h"
#include "properties/prefix.h"

namespace mmv::props {
namespace {

using cmd::Command;
using cmd::Op;
using model::System;

// The impl driven by hand, so that the test itself owns the last mm_count
// reference: ImplRunner keeps its observer reference until its destructor,
// where it also destroys the Kernel and its bug list, so the last mmdrop
// cannot be watched through it. Applies the data-path commands of
// gen_memory_command exactly as ImplRunner does (the property checks that
// both reach the same state), and the lifetime steps as explicit calls.
class HandMm {
 public:
  HandMm() : kernel_(std::make_unique<impl::Kernel>()) {
    for (const cmd::FileSpec& f : cmd::kFiles)
      files_.push_back(kernel_->create_file(cmd::file_contents(f),
                                            f.warm ? impl::Cache::kWarm : impl::Cache::kCold));
    users_.push_back(kernel_->mm_alloc(cmd::kWindowLo, cmd::kWindowHi));
    observer_.emplace(users_.back()->grab());
  }
  ~HandMm() {
    users_.clear();
    grabs_.clear();
    kernel_->drain_work();
    observer_.reset();
    for (std::size_t i = 0; i < held_.pages.size(); ++i)
      if (held_.pinned[i]) (void)kernel_->put_page(held_.pages[i]);
  }
  HandMm(const HandMm&) = delete;
  HandMm& operator=(const HandMm&) = delete;

  void apply(const Command& c) {
    if (!cmd::precondition(c, held_) || users_.empty()) return;
    impl::MmWithUser* mm = users_.back().get();
    std::string out;
    switch (c.op) {
      case Op::kMmap: {
        MmapRequest r = c.mmap;
        if (r.backing.kind == BackingKind::kFile) r.backing.file = files_.at(r.backing.file);
        out = cmd::outcome(mm->mmap(r));
        break;
      }
      case Op::kMunmap: out = cmd::outcome(mm->munmap(c.addr, c.len)); break;
      case Op::kPopulate: out = cmd::outcome(mm->populate(c.addr, c.len)); break;
      case Op::kMprotect: out = cmd::outcome(mm->mprotect(c.addr, c.len, c.prot)); break;
      case Op::kRead: out = cmd::outcome(mm->read(c.addr)); break;
      case Op::kWrite: out = cmd::outcome(mm->write(c.addr, c.value)); break;
      case Op::kZap:
      case Op::kZapUnderVmaLock: {
        if (c.op == Op::kZapUnderVmaLock) {
          if (auto g = mm->lock_vma_under_rcu(c.addr)) {
            out = cmd::outcome(Result<ZapOutcome>(g->vma().zap_page_range_single(c.addr2, c.len)));
            break;
          }
        }
        impl::MmapReadGuard g(*mm);
        impl::VmaRef* v = g.vma_lookup(c.addr);
        out = v ? cmd::outcome(Result<ZapOutcome>(v->zap_page_range_single(c.addr2, c.len)))
                : "error NO_VMA";
        break;
      }
      case Op::kAllocPage: out = cmd::outcome_page(kernel_->alloc_page()); break;
      case Op::kPutPage: out = cmd::outcome(kernel_->put_page(held_.pages.at(c.slot))); break;
      case Op::kInsertPage:
        out = cmd::outcome(mm->vm_insert_page(c.addr, c.addr2, held_.pages.at(c.slot)));
        break;
      case Op::kWriteback: out = cmd::outcome(kernel_->writeback(files_.at(c.slot))); break;
      default: return;  // lookups and lock probes change nothing
    }
    cmd::account(c, out, held_);
  }

  bool mmget_not_zero() {
    auto u = (*observer_)->mmget_not_zero();
    if (u) users_.push_back(std::move(*u));
    return u.has_value();
  }
  void grab() { grabs_.push_back((*observer_)->grab()); }
  void mmput(bool async) {
    if (async) {
      users_.back().into_raw()->mmput_async();
      users_.pop_back();
      kernel_->drain_work();
    } else {
      users_.pop_back();
    }
  }
  void mmdrop() { grabs_.pop_back(); }
  // The last reference, if nothing else holds one: frees the Mm.
  void drop_observer() { observer_.reset(); }

  std::size_t users() const { return users_.size(); }
  impl::Mm& mm() { return **observer_; }
  impl::Kernel& kernel() { return *kernel_; }
  System observe() { return impl::observe(*kernel_, **observer_); }

 private:
  std::unique_ptr<impl::Kernel> kernel_;  // first: destroyed last
  std::optional<impl::ARef<impl::Mm>> observer_;
  std::vector<impl::ARef<impl::MmWithUser>> users_;
  std::vector<impl::ARef<impl::Mm>> grabs_;
  std::vector<FileId> files_;
  cmd::Holdings held_;
};

std::string rss_str(Rss r) { return "anon=" + std::to_string(r.anon) + " file=" + std::to_string(r.file); }

// What the last mmput must leave (SPEC.md section 1): no VMA, no mapping, no
// page table, zero counters; every file that was mapped written back; page-
// cache folios only referenced by the cache, clean ones equal to the disk.
void check_torn_down(const System& s, impl::Mm& mm, const std::set<FileId>& mapped_files,
                     const std::string& who) {
  if (s.mm_users() != 0 || s.life() != LifeState::kTornDown)
    RC_FAIL(who + ": mm_users " + std::to_string(s.mm_users()) + " after the last mmput");
  if (!s.vmas().empty()) RC_FAIL(who + ": " + std::to_string(s.vmas().size()) + " VMAs left after teardown");
  const auto& pt = s.page_table();
  if (!pt.ptes.empty()) RC_FAIL(who + ": PTE left at " + hex(pt.ptes.begin()->first) + " after teardown");
  if (!pt.pmd_leaves.empty())
    RC_FAIL(who + ": PMD leaf left at " + hex(pt.pmd_leaves.begin()->first) + " after teardown");
  if (!pt.pte_tables.empty() || !pt.pmd_tables.empty() || !pt.pud_tables.empty())
    RC_FAIL(who + ": page tables left after teardown");
  if (mm.rss() != Rss{}) RC_FAIL(who + ": rss counters " + rss_str(mm.rss()) + " after teardown");
  if (mm.table_counts() != TableCounts{}) RC_FAIL(who + ": table counters not 0 after teardown");
  for (const auto& [id, f] : s.files()) {
    for (const auto& [index, folio_id] : f.page_cache) {
      const model::Folio& folio = s.folios().at(folio_id);
      if (folio.refcount != 1)
        RC_FAIL(who + ": page-cache folio " + std::to_string(folio_id) + " has refcount " +
                std::to_string(folio.refcount) + " with nothing mapped");
      if (folio.dirty && mapped_files.contains(id))
        RC_FAIL(who + ": file " + std::to_string(id) + " page " + std::to_string(index) +
                " still dirty after the teardown of an mm that mapped it");
      if (!folio.dirty && !(folio.pages.at(0) == f.backing.at(index)))
        RC_FAIL(who + ": file " + std::to_string(id) + " page " + std::to_string(index) +
                " is clean in the cache but differs from the disk");
    }
  }
}

std::set<FileId> mapped_files(const System& s) {
  std::set<FileId> out;
  for (const auto& [start, v] : s.vmas())
    if (v.backing.kind == BackingKind::kFile) out.insert(v.backing.file);
  return out;
}

// Invariant (SPEC.md section 1, "Last mmput (users 1->0): tear the address
// space down (exit_mmap: unmap every VMA, drop every page, write back dirty
// file data, free all page tables) ... Last mmdrop (count 1->0): free the
// object; at that point every rss counter and page-table count must be zero
// (the kernel's check_mm)"): after a random prefix, with extra users and
// grabs taken, putting every user (sync or async, in any mix) leaves no VMA,
// no PTE or PMD leaf, no page table, rss and table counters 0, the mapped
// files written back; non-last puts and the mmdrops of the grabs leave that
// as it is; and the last mmdrop, made by the test itself on a hand-driven
// impl, reports no check_mm (nor any other) bug.
RC_GTEST_PROP(MmLifetime, LastPutUnmapsEverythingAndLastDropSeesZeroCounters, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  const std::vector<Command> prefix = run_prefix(m, impl);
  HandMm hand;
  for (const Command& c : prefix) hand.apply(c);
  const System at_end = impl.observe();
  {
    const System h = hand.observe();
    if (!(h == at_end)) RC_FAIL("the hand-driven impl differs from ImplRunner:\n" + model::diff(at_end, h));
  }
  const std::set<FileId> files = mapped_files(at_end);

  const int extra_users = *rc::gen::inRange(0, 3);
  const int grabs = *rc::gen::inRange(0, 3);
  for (int i = 0; i < extra_users; ++i) {
    Command c;
    c.op = Op::kMmgetNotZero;
    if (impl.apply(c) != "got") RC_FAIL("mmget_not_zero on a live mm came back empty");
    if (!hand.mmget_not_zero()) RC_FAIL("mmget_not_zero on a live mm (by hand) came back empty");
  }
  for (int i = 0; i < grabs; ++i) {
    Command c;
    c.op = Op::kMmgrab;
    (void)impl.apply(c);
    hand.grab();
  }
  while (impl.holdings().users > 0) {
    const bool async = *rc::gen::arbitrary<bool>();
    Command c;
    c.op = async ? Op::kMmputAsync : Op::kMmput;
    (void)impl.apply(c);
    hand.mmput(async);
    if (impl.holdings().users > 0) {
      const System s = impl.observe();
      if (s.mm_users() != static_cast<std::uint32_t>(impl.holdings().users))
        RC_FAIL("mm_users " + std::to_string(s.mm_users()) + " while the runner holds " +
                std::to_string(impl.holdings().users));
      const std::string d = diff_except(at_end, s, {"mm"});
      if (!d.empty()) RC_FAIL("a put that was not the last changed the address space:\n" + d);
    }
  }
  check_torn_down(impl.observe(), impl.mm(), files, "ImplRunner");
  check_torn_down(hand.observe(), hand.mm(), files, "by hand");

  for (int i = 0; i < grabs; ++i) {
    Command c;
    c.op = Op::kMmdrop;
    (void)impl.apply(c);
    hand.mmdrop();
    const System s = impl.observe();
    if (s.mm_count() != static_cast<std::uint32_t>(1 + impl.holdings().grabs))
      RC_FAIL("mm_count " + std::to_string(s.mm_count()) + " with the observer and " +
              std::to_string(impl.holdings().grabs) + " grabs held");
    check_torn_down(s, impl.mm(), files, "ImplRunner after an mmdrop");
  }
  if (hand.mm().mm_count() != 1) RC_FAIL("mm_count " + std::to_string(hand.mm().mm_count()) + " before the last mmdrop");
  if (hand.mm().rss() != Rss{} || hand.mm().table_counts() != TableCounts{})
    RC_FAIL("counters not 0 before the last mmdrop");
  hand.drop_observer();
  const auto bugs = hand.kernel().bugs();
  if (!bugs.empty()) {
    std::string all;
    for (const auto& b : bugs) all += "\n  " + b;
    RC_FAIL("bugs reported by the time the last mmdrop freed the mm:" + all);
  }
}

// Invariant (SPEC.md section 1, "Mm::mmget_not_zero() ... Empty once the
// last user is gone, forever"): after the last mmput, any further commands
// -- mmget_not_zero among them, and grabs, drops, data-path commands,
// failure injection -- leave mm_users at 0, the mm torn down and empty, and
// every mmget_not_zero answers "empty".
RC_GTEST_PROP(MmLifetime, MmgetNotZeroAfterLastPutStaysEmpty, ()) {
  cmd::ModelRunner m;
  cmd::ImplRunner impl;
  PrefixOptions opt;
  opt.lifetime = true;
  run_prefix(m, impl, opt);
  while (impl.holdings().users > 0) {
    Command c;
    c.op = *rc::gen::element(Op::kMmput, Op::kMmputAsync);
    (void)step(c, m, impl);
  }
  Command probe;
  probe.op = Op::kMmgetNotZero;
  const int n = *rc::gen::inRange(1, 20);
  int probes = 0;
  for (int i = 0; i < n; ++i) {
    const Command c = *rc::gen::weightedOneOf<Command>({{2, gen_command(m)}, {1, rc::gen::just(probe)}});
    const auto out = step(c, m, impl);
    if (!out) continue;
    if (c.op == Op::kMmgetNotZero) {
      ++probes;
      if (*out != "empty") RC_FAIL("mmget_not_zero after the last mmput answered " + *out);
    }
    // The counters, read directly (observing after every step is slow).
    impl::Mm& mm = impl.mm();
    if (mm.mm_users() != 0 || mm.life() != LifeState::kTornDown)
      RC_FAIL("after " + cmd::to_string(c) + ": mm_users " + std::to_string(mm.mm_users()) +
              " after the last mmput");
    if (mm.rss() != Rss{} || mm.table_counts() != TableCounts{})
      RC_FAIL("after " + cmd::to_string(c) + ": the torn-down mm maps something again");
    if (impl.holdings().users != 0) RC_FAIL("the runner holds a user reference after the last mmput");
  }
  const System s = impl.observe();
  if (s.mm_users() != 0 || !s.vmas().empty() || !s.page_table().ptes.empty() ||
      !s.page_table().pmd_leaves.empty() || !s.page_table().pte_tables.empty())
    RC_FAIL("the torn-down mm has users, VMAs, mappings or tables again");
  RC_CLASSIFY(probes > 0, "probed");
}

}  // namespace
}  // namespace mmv::props
