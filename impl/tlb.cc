#include "impl/tlb.h"

namespace mmv::impl {

std::optional<std::uint8_t> Tlbs::access(int c, Addr addr, bool write, std::uint8_t value) {
  Cpu& me = cpu(c);
  const Addr vpage = page_down(addr);
  MutexLock g(me.lock);
  const Entry& e = me.e[slot(vpage)];
  if (e.vpage != vpage || (write && !e.writable)) return std::nullopt;
  const auto offset = static_cast<std::uint32_t>(addr - vpage);
  if (!write) return e.page->load(offset);
  e.page->store(offset, value);
  return value;
}

void Tlbs::fill(int c, Addr addr, Page* page, bool writable) {
  Cpu& me = cpu(c);
  const Addr vpage = page_down(addr);
  MutexLock g(me.lock);
  me.e[slot(vpage)] = Entry{vpage, page, writable};
}

void Tlbs::flush(Addr lo, Addr hi) {
  for (Cpu& c : cpus_) {
    MutexLock g(c.lock);
    for (Entry& e : c.e)
      if (e.vpage != kNoPage && e.vpage >= page_down(lo) && e.vpage < hi) e = Entry{};
  }
}

void Tlbs::flush_all() {
  for (Cpu& c : cpus_) {
    MutexLock g(c.lock);
    c.e.fill(Entry{});
  }
}

}  // namespace mmv::impl
