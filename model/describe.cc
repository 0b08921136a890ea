#include "model/describe.h"

#include <cstdio>
#include <sstream>

namespace mmv::model {
namespace {

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string bytes(const PageBytes& p) {
  std::string out = "{";
  for (const auto& [off, v] : p.nonzero()) {
    if (out.size() > 1) out += ' ';
    out += hex(off) + "=" + hex(v);
  }
  return out + "}";
}

const char* kind_name(FolioKind k) {
  switch (k) {
    case FolioKind::kAnon: return "anon";
    case FolioKind::kPageCache: return "pagecache";
    case FolioKind::kDriver: return "driver";
  }
  return "?";
}

const char* life_name(LifeState l) {
  switch (l) {
    case LifeState::kLive: return "live";
    case LifeState::kTornDown: return "torn-down";
    case LifeState::kFreed: return "freed";
  }
  return "?";
}

std::string bits(bool w, bool d, bool y) {
  return std::string(w ? "w" : "-") + (d ? "d" : "-") + (y ? "y" : "-");
}

}  // namespace

std::map<std::string, std::string> facts(const System& s) {
  std::map<std::string, std::string> f;
  f["mm"] = "users=" + std::to_string(s.mm_users()) +
            " count=" + std::to_string(s.mm_count()) + " " + life_name(s.life());
  for (const auto& [start, v] : s.vmas()) {
    std::ostringstream os;
    os << v;
    f["vma " + hex(start)] = os.str();
  }
  const PageTable& pt = s.page_table();
  for (const auto& [a, p] : pt.ptes) {
    f["page " + hex(a)] =
        bits(p.writable, p.dirty, p.young) +
        (p.zero_page ? " zero" : " folio " + std::to_string(p.folio) + "+" +
                                     std::to_string(p.subpage));
  }
  for (const auto& [a, l] : pt.pmd_leaves) {
    f["pmd " + hex(a)] = bits(l.writable, l.dirty, l.young) + " folio " +
                         std::to_string(l.folio);
  }
  for (const auto& [id, fo] : s.folios()) {
    std::string v = std::string(kind_name(fo.kind)) + " order " +
                    std::to_string(fo.order) + " ref " + std::to_string(fo.refcount) +
                    " pins " + std::to_string(fo.pins) + (fo.dirty ? " dirty" : "") +
                    (fo.accessed ? " accessed" : "");
    if (fo.kind == FolioKind::kPageCache)
      v += " file " + std::to_string(fo.file) + " index " + std::to_string(fo.index);
    f["folio " + std::to_string(id)] = v;
    for (std::size_t i = 0; i < fo.pages.size(); ++i) {
      if (!fo.pages[i].all_zero())
        f["folio " + std::to_string(id) + " page " + std::to_string(i)] =
            bytes(fo.pages[i]);
    }
  }
  for (const auto& [id, file] : s.files()) {
    const std::string k = "file " + std::to_string(id);
    f[k] = std::to_string(file.size_pages) + " pages";
    for (std::size_t i = 0; i < file.backing.size(); ++i) {
      if (!file.backing[i].all_zero())
        f[k + " disk " + std::to_string(i)] = bytes(file.backing[i]);
    }
    for (const auto& [index, folio] : file.page_cache)
      f[k + " cache " + std::to_string(index)] = "folio " + std::to_string(folio);
  }
  const Rss r = s.rss();
  f["rss"] = "anon=" + std::to_string(r.anon) + " file=" + std::to_string(r.file);
  const TableCounts t = s.table_counts();
  f["tables"] = "pte=" + std::to_string(t.pte) + " pmd=" + std::to_string(t.pmd) +
                " pud=" + std::to_string(t.pud);
  f["zap_rejections"] = std::to_string(s.zap_rejections());
  f["fail_next_alloc"] = s.allocation_failure_armed() ? "armed" : "no";
  for (std::size_t i = 0; i < s.bugs().size(); ++i)
    f["bug " + std::to_string(i)] = s.bugs()[i];
  return f;
}

std::string describe(const System& s) {
  std::string out;
  for (const auto& [k, v] : facts(s)) out += k + ": " + v + "\n";
  return out;
}

std::string diff(const System& a, const System& b) {
  const auto fa = facts(a), fb = facts(b);
  std::string out;
  auto ia = fa.begin();
  auto ib = fb.begin();
  static const std::string kAbsent = "(absent)";
  while (ia != fa.end() || ib != fb.end()) {
    if (ib == fb.end() || (ia != fa.end() && ia->first < ib->first)) {
      out += ia->first + ": " + ia->second + " | " + kAbsent + "\n";
      ++ia;
    } else if (ia == fa.end() || ib->first < ia->first) {
      out += ib->first + ": " + kAbsent + " | " + ib->second + "\n";
      ++ib;
    } else {
      if (ia->second != ib->second)
        out += ia->first + ": " + ia->second + " | " + ib->second + "\n";
      ++ia;
      ++ib;
    }
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const System& s) {
  return os << describe(s);
}

}  // namespace mmv::model
