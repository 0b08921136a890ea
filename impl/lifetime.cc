// Mm / MmWithUser: mm_users, mm_count and teardown (SPEC.md section 1).
#include <atomic>
#include <set>
#include <string>

#include "impl/fault_switch.h"
#include "impl/mm.h"
#include "impl/mmu_gather.h"

namespace mmv::impl {

namespace {
std::atomic<std::uint64_t> g_next_mm_seq{1};
}  // namespace

Mm::Mm(Kernel& kernel, Addr window_lo, Addr window_hi)
    : kernel_(kernel),
      window_lo_(window_lo),
      window_hi_(window_hi),
      creation_seq_(g_next_mm_seq.fetch_add(1, std::memory_order_relaxed)),
      rcu_vmas_(new VmaSnapshot) {}

Mm::~Mm() {
  // Readers that might still hold the snapshot are gone: this is the last
  // mm_count reference, and lock_vma_under_rcu needs a user reference.
  rcu::retire_delete(rcu_vmas_.load(std::memory_order_relaxed));
}

LifeState Mm::life() const {
  return users_.value() == 0 ? LifeState::kTornDown : LifeState::kLive;
}

void Mm::mmgrab() {
  switch (count_.inc()) {
    case AtomicRefcount::Event::kSaturated: kernel_.report_bug("mm_count saturated"); break;
    case AtomicRefcount::Event::kIncFromZero: kernel_.report_bug("mmgrab on a freed mm"); break;
    default: break;
  }
}

ARef<Mm> Mm::grab() {
  mmgrab();
  return ARef<Mm>::adopt(this);
}

void Mm::mmdrop() {
  for (;;) {
    const std::uint32_t v = count_.value();
    if (v == 0) {
      kernel_.report_bug("mmdrop on a freed mm");
      return;
    }
    if (v > AtomicRefcount::kMax) return;  // saturated: leak, never free
    if (v == 1) {
      // Read users only after seeing count == 1: the users drop their
      // shared count reference after mm_users reached 0, so a caller that
      // owns a reference of its own never sees count == 1 with users > 0.
      if (users_.value() > 0) {
        kernel_.report_bug("mmdrop of the users' mm_count reference");
        return;
      }
      if (count_.dec() == AtomicRefcount::Event::kHitZero) free_object();
      return;
    }
    if (count_.dec_unless_one()) return;
    // The count fell to 1 meanwhile: look again.
  }
}

void Mm::free_object() {
  check_mm();
  delete static_cast<MmWithUser*>(this);
}

std::optional<ARef<MmWithUser>> Mm::mmget_not_zero() {
  // Test-only fault (impl/fault_switch.h): refcount_inc for
  // refcount_inc_not_zero. From zero it changes nothing (impl/refcount.h),
  // yet a reference is handed out; its mmput then underflows (a reported
  // bug, not a second teardown).
  if (fault_active(Fault::kMmgetFromZero)) {
    if (users_.inc() == AtomicRefcount::Event::kSaturated) kernel_.report_bug("mm_users saturated");
    return ARef<MmWithUser>::adopt(static_cast<MmWithUser*>(this));
  }
  // Test-only fault (impl/fault_switch.h).
  if (fault_active(Fault::kMmgetNotZeroRacy)) {
    if (!users_.racy_inc_not_zero()) return std::nullopt;
    return ARef<MmWithUser>::adopt(static_cast<MmWithUser*>(this));
  }
  AtomicRefcount::Event ev;
  if (!users_.inc_not_zero(&ev)) return std::nullopt;
  if (ev == AtomicRefcount::Event::kSaturated) kernel_.report_bug("mm_users saturated");
  return ARef<MmWithUser>::adopt(static_cast<MmWithUser*>(this));
}

void MmWithUser::mmget() {
  switch (users_.inc()) {
    case AtomicRefcount::Event::kSaturated: kernel_.report_bug("mm_users saturated"); break;
    case AtomicRefcount::Event::kIncFromZero: kernel_.report_bug("mmget on an mm with no users"); break;
    default: break;
  }
}

bool MmWithUser::put_user() {
  const AtomicRefcount::Event ev = users_.dec();
  if (ev == AtomicRefcount::Event::kUnderflow) {
    kernel_.report_bug("mmput with mm_users == 0");
    return false;
  }
  // Test-only fault (impl/fault_switch.h): the decision made on a re-read.
  if (fault_active(Fault::kMmputRereadsCount)) return users_.value() == 0;
  return ev == AtomicRefcount::Event::kHitZero;
}

void Mm::exit_and_drop_users_count() {
  exit_mmap();
  // The users' share of mm_count goes with the last user.
  if (count_.dec() == AtomicRefcount::Event::kHitZero) free_object();
}

void MmWithUser::mmput() {
  if (put_user()) exit_and_drop_users_count();
}

void MmWithUser::mmput_async() {
  if (put_user()) kernel_.queue_work([this] { exit_and_drop_users_count(); });
}

void Mm::exit_mmap() {
  std::set<File*> to_write_back;
  std::set<File*> registered;
  {
    MmapWriteGuard g(static_cast<MmWithUser&>(*this));
    {
      MmuGather tlb(*this);
      for (const auto& [start, v] : vmas_) {
        vma_start_write(*v);
        zap_range(v->start_, v->end_, tlb);
        if (v->backing_.kind == BackingKind::kFile)
          to_write_back.insert(kernel_.file(v->backing_.file));
      }
    }
    while (!vmas_.empty()) remove_vma(vmas_.begin()->second);
    free_pgtables(0, kTaskSize);
    publish_vmas();
    registered.swap(mapped_files_);
  }
  // Outside the mmap lock: writeback takes the mmap locks of the mms that
  // map the file, this one included.
  // Test-only fault (impl/fault_switch.h).
  if (!fault_active(Fault::kExitSkipsWriteback))
    for (File* f : to_write_back) f->writeback();
  for (File* f : registered) f->remove_mapper(*this);
  rcu::reclaim();
}

void Mm::check_mm() {
  const Rss r = rss();
  if (r != Rss{}) {
    kernel_.report_bug("check_mm: rss anon=" + std::to_string(r.anon) +
                       " file=" + std::to_string(r.file) + " at free");
  }
  if (table_counts() != TableCounts{}) kernel_.report_bug("check_mm: page tables left at free");
}

Rss Mm::rss() const { return {rss_.sum(kRssFile), rss_.sum(kRssAnon)}; }

TableCounts Mm::table_counts() const {
  return {static_cast<std::size_t>(pt_.nr_pte_tables()),
          static_cast<std::size_t>(pt_.nr_pmd_tables()),
          static_cast<std::size_t>(pt_.nr_pud_tables())};
}

void Mm::rss_add(FolioKind kind, std::int64_t delta) {
  rss_.add(kind == FolioKind::kAnon ? kRssAnon : kRssFile, delta);
}

}  // namespace mmv::impl
