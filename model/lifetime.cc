// model::System: mm_users / mm_count and teardown (SPEC.md section 1).
#include <set>

#include "model/system.h"

namespace mmv::model {

LifeState System::life() const {
  if (freed_) return LifeState::kFreed;
  if (users_.value() == 0) return LifeState::kTornDown;
  return LifeState::kLive;
}

void System::report(std::string bug) { bugs_.push_back(std::move(bug)); }

Status System::require_live() {
  switch (life()) {
    case LifeState::kFreed:
      report("address-space operation on a freed mm");
      return Errc::kFreed;
    case LifeState::kTornDown: return Errc::kNoUser;
    case LifeState::kLive: return {};
  }
  return {};
}

Status System::mmgrab() {
  if (freed_) {
    report("mmgrab on a freed mm");
    return Errc::kFreed;
  }
  if (count_.inc() == Refcount::Event::kSaturated) report("mm_count saturated");
  return {};
}

Status System::mmdrop() {
  if (freed_) {
    report("mmdrop on a freed mm");
    return Errc::kFreed;
  }
  if (count_.value() == 1 && users_.value() > 0) {
    // The users own that last reference together; dropping it here would
    // free an address space that is still in use.
    report("mmdrop of the users' mm_count reference");
    return Errc::kInval;
  }
  if (count_.dec() == Refcount::Event::kHitZero) {
    check_mm();
    freed_ = true;
  }
  return {};
}

bool System::mmget_not_zero() {
  if (freed_) {
    report("mmget_not_zero on a freed mm");
    return false;
  }
  Refcount::Event ev;
  bool ok = users_.inc_not_zero(&ev);
  if (ev == Refcount::Event::kSaturated) report("mm_users saturated");
  return ok;
}

Status System::mmput() {
  if (freed_) {
    report("mmput on a freed mm");
    return Errc::kFreed;
  }
  switch (users_.dec()) {
    case Refcount::Event::kUnderflow:
      report("mmput with mm_users == 0");
      return Errc::kNoUser;
    case Refcount::Event::kHitZero:
      exit_mmap();
      // The users' share of mm_count goes with the last user.
      if (count_.dec() == Refcount::Event::kHitZero) {
        check_mm();
        freed_ = true;
      }
      return {};
    default:
      return {};
  }
}

Status System::mmput_async() { return mmput(); }

void System::exit_mmap() {
  std::set<FileId> mapped_files;
  for (const auto& [start, v] : vmas_) {
    zap_range(v.start, v.end);
    if (v.backing.kind == BackingKind::kFile) mapped_files.insert(v.backing.file);
  }
  vmas_.clear();
  pt_.free_uncovered([](Addr, Addr) { return false; });
  for (FileId f : mapped_files) (void)writeback(f);
}

void System::check_mm() {
  Rss r = rss();
  if (r != Rss{}) {
    report("check_mm: rss anon=" + std::to_string(r.anon) +
           " file=" + std::to_string(r.file) + " at free");
  }
  if (table_counts() != TableCounts{}) report("check_mm: page tables left at free");
}

}  // namespace mmv::model
