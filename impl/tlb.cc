#include "impl/tlb.h"

#include <algorithm>
#include <bit>

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
  const std::size_t i = slot(vpage);
  me.e[i] = Entry{vpage, page, writable};
  me.valid |= std::uint32_t{1} << i;
  // Widened before the caller drops the entry's lock (see the header), a
  // whole PUD (1 GiB) at a time: a CPU walking through memory then writes
  // its bounds once per GiB, not once per page, and flushes read a line
  // that seldom moves.
  if (vpage < me.lo.load(std::memory_order_relaxed)) me.lo.store(pud_down(vpage), std::memory_order_release);
  if (vpage + kPageSize > me.hi.load(std::memory_order_relaxed))
    me.hi.store(pud_down(vpage) + kPudSize, std::memory_order_release);
}

void Tlbs::rebound(Cpu& c) {
  Addr lo = kNoPage, hi = 0;
  for (std::uint32_t m = c.valid; m != 0; m &= m - 1) {
    const Entry& e = c.e[static_cast<std::size_t>(std::countr_zero(m))];
    lo = std::min(lo, pud_down(e.vpage));
    hi = std::max(hi, pud_down(e.vpage) + kPudSize);
  }
  // Release: a flush that reads these narrowed bounds and skips c must
  // also see every access c made through the entries just dropped (they
  // held c's lock, which this flusher holds now).
  c.lo.store(lo, std::memory_order_release);
  c.hi.store(hi, std::memory_order_release);
}

void Tlbs::flush(Addr lo, Addr hi) {
  const Addr first = page_down(lo);
  for (Cpu& c : cpus_) {
    // The entries' locks the caller took order this after every fill that
    // matters here; acquire, to pair with the release of whoever last
    // narrowed or widened them (see the header).
    if (c.hi.load(std::memory_order_acquire) <= first || c.lo.load(std::memory_order_acquire) >= hi) continue;
    MutexLock g(c.lock);
    for (std::uint32_t m = c.valid; m != 0; m &= m - 1) {
      const int i = std::countr_zero(m);
      Entry& e = c.e[static_cast<std::size_t>(i)];
      if (e.vpage >= first && e.vpage < hi) {
        e = Entry{};
        c.valid &= ~(std::uint32_t{1} << i);
      }
    }
    rebound(c);
  }
}

std::vector<Tlbs::Held> Tlbs::held(int c) {
  Cpu& me = cpu(c);
  MutexLock g(me.lock);
  std::vector<Held> out;
  for (std::uint32_t m = me.valid; m != 0; m &= m - 1) {
    const Entry& e = me.e[static_cast<std::size_t>(std::countr_zero(m))];
    out.push_back({e.vpage, e.page, e.writable});
  }
  return out;
}

void Tlbs::flush_all() {
  for (Cpu& c : cpus_) {
    MutexLock g(c.lock);
    c.e.fill(Entry{});
    c.valid = 0;
    rebound(c);
  }
}

}  // namespace mmv::impl
