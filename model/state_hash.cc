#include "model/state_hash.h"

#include <cstdint>

namespace mmv::model {
namespace {

// FNV-1a over 64-bit words: fast, and good enough for a memo that checks
// equality on every hit.
class Hasher {
 public:
  void add(std::uint64_t v) { h_ = (h_ ^ v) * 0x100000001b3ull; }
  void add(const PageBytes& p) {
    add(p.nonzero().size());
    for (const auto& [off, v] : p.nonzero()) add((std::uint64_t{off} << 8) | v);
  }
  std::size_t value() const { return static_cast<std::size_t>(h_); }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ull;
};

}  // namespace

std::size_t state_hash(const System& s) {
  Hasher h;
  for (const auto& [start, v] : s.vmas()) {
    h.add(start);
    h.add(v.end);
    h.add(v.flags);
    h.add(static_cast<std::uint64_t>(v.backing.kind));
    h.add(v.backing.file);
    h.add(v.backing.pgoff);
    h.add(v.anon_vma);
  }
  const PageTable& pt = s.page_table();
  for (const auto& [a, e] : pt.ptes) {
    h.add(a);
    h.add((std::uint64_t{e.writable} << 3) | (std::uint64_t{e.dirty} << 2) | (std::uint64_t{e.young} << 1) |
          e.zero_page);
    h.add(e.folio);
    h.add(e.subpage);
  }
  for (const auto& [a, e] : pt.pmd_leaves) {
    h.add(a);
    h.add((std::uint64_t{e.writable} << 2) | (std::uint64_t{e.dirty} << 1) | e.young);
    h.add(e.folio);
  }
  for (const auto* tables : {&pt.pte_tables, &pt.pmd_tables, &pt.pud_tables}) {
    h.add(tables->size());
    for (Addr t : *tables) h.add(t);
  }
  for (const auto& [id, f] : s.folios()) {
    h.add(id);
    h.add((static_cast<std::uint64_t>(f.kind) << 40) | (std::uint64_t{f.order} << 32) | f.refcount);
    h.add((std::uint64_t{f.pins} << 2) | (std::uint64_t{f.dirty} << 1) | f.accessed);
    h.add(f.file);
    h.add(f.index);
    for (const PageBytes& p : f.pages) h.add(p);
  }
  for (const auto& [id, f] : s.files()) {
    h.add(id);
    h.add(f.size_pages);
    for (const PageBytes& p : f.backing) h.add(p);
    for (const auto& [index, folio] : f.page_cache) {
      h.add(index);
      h.add(folio);
    }
  }
  h.add(static_cast<std::uint64_t>(s.life()));
  return h.value();
}

}  // namespace mmv::model
