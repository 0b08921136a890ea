#include "impl/observe.h"

#include <sstream>

namespace mmv::impl {

class Observer {
 public:
  static model::System observe(Kernel& k, Mm& mm);
  static std::vector<std::string> check_invariants(Mm& mm, const model::System& s);
};

namespace {

model::Folio as_model(const Folio& f) {
  model::Folio out;
  out.kind = f.kind();
  out.order = f.order();
  out.refcount = f.refcount().value();
  out.pins = f.pins();
  out.dirty = f.dirty();
  out.accessed = f.accessed();
  if (f.kind() == FolioKind::kPageCache) {
    out.file = f.file();
    out.index = f.index();
  }
  out.pages.reserve(f.nr_pages());
  for (std::uint32_t i = 0; i < f.nr_pages(); ++i) out.pages.push_back(f.page(i).bytes());
  return out;
}

}  // namespace

model::System Observer::observe(Kernel& k, Mm& mm) {
  model::System::Parts p;
  p.window_lo = mm.window_lo_;
  p.window_hi = mm.window_hi_;
  p.users = mm.users_.value();
  p.count = mm.count_.value();
  std::map<FolioId, const Folio*> folios;
  {
    MmapReadGuard g(static_cast<MmWithUser&>(mm));
    mm.mmap_lock_.assert_held_shared();
    for (const auto& [start, v] : mm.vmas_)
      p.vmas[start] = v->as_vma();
  }
  mm.pt_.walk(
      [&](Addr a, Pte pte) {
        const Page* page = pte.page();
        model::Pte m{pte.writable(), pte.dirty(), pte.young(), page->is_zero_page(), 0, 0};
        if (!page->is_zero_page()) {
          m.folio = page->folio()->id();
          m.subpage = page->index();
          folios[m.folio] = page->folio();
        }
        p.pt.ptes[a] = m;
      },
      [&](Addr a, Pmd e) {
        p.pt.pmd_leaves[a] = model::PmdLeaf{e.writable(), e.dirty(), e.young(), e.folio()->id()};
        folios[e.folio()->id()] = e.folio();
      },
      [&](int level, Addr base) {
        (level == 1 ? p.pt.pte_tables : level == 2 ? p.pt.pmd_tables : p.pt.pud_tables).insert(base);
      });
  for (FileId id : k.file_ids()) {
    File* f = k.file(id);
    model::File& mf = p.files[id];
    mf.size_pages = f->size_pages();
    for (std::uint64_t i = 0; i < f->size_pages(); ++i) mf.backing.push_back(f->disk_page(i));
    for (auto& [index, folio] : f->cached()) {
      mf.page_cache[index] = folio->id();
      folios[folio->id()] = folio;
    }
  }
  for (Folio* f : k.driver_pages()) folios[f->id()] = f;
  for (const auto& [id, f] : folios) p.folios[id] = as_model(*f);
  p.next_folio = k.next_folio_id();
  {
    MutexLock g(mm.anon_vma_lock_);
    p.next_anon_vma = mm.next_anon_vma_;
  }
  p.next_file = k.next_file_id();
  p.zap_rejections = mm.zap_rejections();
  p.fail_next_alloc = k.allocation_failure_armed();
  p.bugs = k.bugs();
  return model::System::from_parts(std::move(p));
}

std::vector<std::string> Observer::check_invariants(Mm& mm, const model::System& s) {
  // The model states and checks the shared invariants; run its checker on
  // what this mm looks like, then check what only impl/ has.
  std::vector<std::string> out = s.check_invariants();
  auto fail = [&](auto&&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    out.push_back(os.str());
  };
  if (mm.rss() != s.rss())
    fail("rss counters anon=", mm.rss().anon, " file=", mm.rss().file, " but the page table has anon=",
         s.rss().anon, " file=", s.rss().file);
  if (mm.table_counts() != s.table_counts())
    fail("table counters pte/pmd/pud=", mm.table_counts().pte, "/", mm.table_counts().pmd, "/",
         mm.table_counts().pud, " but the tree links ", s.table_counts().pte, "/",
         s.table_counts().pmd, "/", s.table_counts().pud);
  // impl/tlb.h's invariant, quiescent: every translation a CPU holds is
  // its page's current entry, with no more permission. A shootdown left out
  // shows here, as soon as the operation that owed it returns.
  for (int cpu = 0; cpu < Tlbs::kCpus; ++cpu) {
    for (const Tlbs::Held& h : mm.tlbs_.held(cpu)) {
      const Pmd e = mm.pt_.pmd(h.vpage);
      const Page* page = nullptr;
      bool writable = false;
      if (e.is_leaf()) {
        page = &e.folio()->page(pte_index(h.vpage));
        writable = e.writable();
      } else if (const Pte p = mm.pt_.pte(h.vpage); !p.none()) {
        page = p.page();
        writable = p.writable();
      }
      if (page == nullptr) fail("CPU ", cpu, "'s TLB maps 0x", std::hex, h.vpage, ", which nothing maps");
      else if (page != h.page) fail("CPU ", cpu, "'s TLB maps 0x", std::hex, h.vpage, " to another page than its entry");
      else if (h.writable && !writable)
        fail("CPU ", cpu, "'s TLB maps 0x", std::hex, h.vpage, " writable, its entry read-only");
    }
  }
  MmapReadGuard g(static_cast<MmWithUser&>(mm));
  mm.mmap_lock_.assert_held_shared();
  const VmaSnapshot* snap = mm.rcu_vmas_.load(std::memory_order_acquire);
  if (snap->entries.size() != mm.vmas_.size()) fail("RCU snapshot has ", snap->entries.size(),
                                                    " VMAs, the tree ", mm.vmas_.size());
  std::size_t i = 0;
  const std::uint64_t seq = mm.mmap_lock_.seq();
  for (const auto& [start, v] : mm.vmas_) {
    if (i < snap->entries.size()) {
      const auto& e = snap->entries[i];
      if (e.vma != v || e.start != v->start_ || e.end != v->end_)
        fail("RCU snapshot entry ", i, " does not match VMA at 0x", std::hex, start);
    }
    ++i;
    if (v->vm_lock_seq_.load(std::memory_order_acquire) == seq)
      fail("VMA at 0x", std::hex, start, " is write-locked with no writer");
    if (v->detached_.load(std::memory_order_acquire))
      fail("VMA at 0x", std::hex, start, " is in the tree but detached");
    if (v->mm_ != &mm) fail("VMA at 0x", std::hex, start, " names another mm");
  }
  return out;
}

model::System observe(Kernel& kernel, Mm& mm) { return Observer::observe(kernel, mm); }

std::vector<std::string> check_invariants(Mm& mm, const model::System& seen) {
  return Observer::check_invariants(mm, seen);
}

std::vector<std::string> Mm::check_invariants() { return Observer::check_invariants(*this, observe(kernel_, *this)); }

}  // namespace mmv::impl
