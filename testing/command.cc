#include "testing/command.h"

#include <sstream>

#include "testing/marked_pages.h"

namespace mmv::cmd {

const char* op_name(Op op) {
  switch (op) {
    case Op::kMmap: return "mmap";
    case Op::kMunmap: return "munmap";
    case Op::kMprotect: return "mprotect";
    case Op::kRead: return "read";
    case Op::kWrite: return "write";
    case Op::kZap: return "zap";
    case Op::kZapUnderVmaLock: return "zap_under_vma_lock";
    case Op::kAllocPage: return "alloc_page";
    case Op::kPutPage: return "put_page";
    case Op::kInsertPage: return "vm_insert_page";
    case Op::kWriteback: return "writeback";
    case Op::kMmgrab: return "mmgrab";
    case Op::kMmdrop: return "mmdrop";
    case Op::kMmgetNotZero: return "mmget_not_zero";
    case Op::kMmput: return "mmput";
    case Op::kMmputAsync: return "mmput_async";
    case Op::kLockVmaUnderRcu: return "lock_vma_under_rcu";
    case Op::kMmapReadTrylock: return "mmap_read_trylock";
    case Op::kVmaLookup: return "vma_lookup";
    case Op::kFailNextAllocation: return "fail_next_allocation";
    case Op::kPopulate: return "populate";
  }
  return "?";
}

namespace {

std::string hex(std::uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

}  // namespace

bool precondition(const Command& c, const Holdings& h) {
  switch (c.op) {
    case Op::kMmput:
    case Op::kMmputAsync: return h.users > 0;
    case Op::kMmdrop: return h.grabs > 0;
    case Op::kPutPage: return c.slot < h.pages.size() && h.pinned[c.slot];
    case Op::kInsertPage: return c.slot < h.pages.size();
    case Op::kWriteback: return c.slot < std::size(kFiles);
    case Op::kMmap:
      return c.mmap.backing.kind != BackingKind::kFile || c.mmap.backing.file < std::size(kFiles);
    default: return true;
  }
}

void account(const Command& c, const std::string& out, Holdings& h) {
  switch (c.op) {
    case Op::kMmput:
    case Op::kMmputAsync: --h.users; break;
    case Op::kMmgrab: ++h.grabs; break;
    case Op::kMmdrop: --h.grabs; break;
    case Op::kMmgetNotZero:
      if (out == "got") ++h.users;
      break;
    case Op::kAllocPage:
      if (out.rfind("ok page ", 0) == 0) {
        h.pages.push_back(std::stoull(out.substr(8)));
        h.pinned.push_back(true);
      }
      break;
    case Op::kPutPage:
      if (out == "ok") h.pinned[c.slot] = false;
      break;
    default: break;
  }
}

std::vector<PageBytes> file_contents(const FileSpec& f) {
  return testing::MarkedPages(f.pages, f.tag);
}

std::string outcome(const Status& s) {
  return s.ok() ? "ok" : "error " + std::string(errc_name(s.error()));
}
std::string outcome(const Result<Addr>& r) {
  return r.ok() ? "ok " + hex(r.value()) : "error " + std::string(errc_name(r.error()));
}
std::string outcome(const Result<std::uint8_t>& r) {
  return r.ok() ? "ok " + std::to_string(r.value()) : "error " + std::string(errc_name(r.error()));
}
std::string outcome(const Result<ZapOutcome>& r) {
  if (!r.ok()) return "error " + std::string(errc_name(r.error()));
  return r.value() == ZapOutcome::kZapped ? "zapped" : "rejected";
}
std::string outcome_page(const Result<FolioId>& r) {
  return r.ok() ? "ok page " + std::to_string(r.value())
                : "error " + std::string(errc_name(r.error()));
}
std::string outcome_vma(const Vma* v) {
  if (!v) return "none";
  std::ostringstream os;
  os << "vma " << *v;
  return os.str();
}

}  // namespace mmv::cmd
