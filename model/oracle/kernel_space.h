// KernelSpace: the real-kernel side of the oracle. A scratch span of this
// process's address space plus temporary files, driven only through system
// calls so that no access ever faults in the test process:
//  - mmap / munmap / mprotect / madvise(MADV_DONTNEED, MADV_POPULATE_WRITE)
//    by raw syscall(2),
//    which bypasses sanitizer interceptors (the kernel sees exactly the
//    arguments the op names, unaligned or zero ones included);
//  - byte and page accesses by process_vm_readv/writev on our own pid: the
//    kernel's GUP faults pages in like a CPU access would (including
//    fault-around and copy-on-write) and returns EFAULT where the CPU would
//    take SIGSEGV or SIGBUS;
//  - observation through /proc/self/pagemap (bit 63, present),
//    /proc/self/maps and pread(2) on the files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/addr.h"
#include "model/errc.h"
#include "model/page_bytes.h"

namespace mmv::oracle {

// Backing of a /proc/self/maps entry, or of a model VMA, for comparison.
inline constexpr int kAnonFile = -1;   // anonymous memory
inline constexpr int kOtherFile = -2;  // a file that is not one of ours

// One mapping as /proc/self/maps shows it (clipped to the observed span).
struct MapsEntry {
  Addr start = 0;
  Addr end = 0;
  bool read = false;
  bool write = false;
  bool exec = false;
  bool shared = false;  // 's' (VM_MAYSHARE) rather than 'p'
  int file = kAnonFile;        // index of our temp file, or kAnonFile/kOtherFile
  std::uint64_t pgoff = 0;     // file page of `start` (ignored for anon)

  friend bool operator==(const MapsEntry&, const MapsEntry&) = default;
};

// The Errc the model returns for an errno of mmap/munmap/mprotect, if one
// maps to it one to one.
std::optional<Errc> errc_of(int e);

// Merges adjacent entries (end == next start) with equal permissions and
// backing and, for files, contiguous page offsets. Both sides are compared
// this way: maps does not show all that decides a merge (VM_ACCOUNT,
// anon_vma), so the raw layouts may differ where nothing else does.
std::vector<MapsEntry> normalize(std::vector<MapsEntry> entries);
std::string to_string(const MapsEntry& e, Addr base);

// Finds a base address whose span of `span_pages` pages is free in
// /proc/self/maps and can really be mapped with MAP_FIXED_NOREPLACE. The
// preferred base is 0x200000000000, far from the heap, the binary, the
// libraries and the stack; ThreadSanitizer reserves that range (it protects
// the gaps between its shadow and application ranges), so the fallbacks lie
// in other application ranges. Returns nullopt with *why filled if none is
// usable.
std::optional<Addr> find_scratch_base(std::uint64_t span_pages, std::string* why);

class KernelSpace {
 public:
  // Creates one unlinked temp file per entry of `files` (in $TMPDIR, else
  // /tmp), written page by page with pwrite(2) so that the page cache holds
  // them warm in order-0 folios (one large write lets ext4 and others cache
  // large folios, which the kernel's fault-around then maps whole -- the
  // model, like the kernel with small folios, maps a 16-page window).
  // Aborts the test (throws std::runtime_error) on setup failure.
  KernelSpace(Addr base, std::uint64_t span_pages,
              const std::vector<std::vector<PageBytes>>& files);
  // Unmaps the whole span and closes the files.
  ~KernelSpace();
  KernelSpace(const KernelSpace&) = delete;
  KernelSpace& operator=(const KernelSpace&) = delete;

  Addr base() const { return base_; }
  Addr span_end() const { return base_ + span_pages_ * kPageSize; }

  // Each returns 0 or the errno. `out` gets the address mmap returned.
  int mmap(Addr addr, std::uint64_t len, int prot, bool shared, int file,
           std::uint64_t pgoff, bool fixed, Addr* out);
  int munmap(Addr addr, std::uint64_t len);
  int mprotect(Addr addr, std::uint64_t len, int prot);
  int madvise_dontneed(Addr addr, std::uint64_t len);
  int madvise_populate_write(Addr addr, std::uint64_t len);
  int read_byte(Addr addr, std::uint8_t* out);
  int write_byte(Addr addr, std::uint8_t value);
  // The whole page at addr (process_vm_readv). Only call it for a page that
  // is present and readable, so that it cannot fault anything in.
  int read_page(Addr addr, std::uint8_t* out);

  // Present bit of every page of the span; nullopt if /proc/self/pagemap
  // cannot be read (then *why says why).
  std::optional<std::vector<bool>> present_bits(std::string* why) const;
  // The /proc/self/maps entries that intersect the span, clipped to it.
  std::vector<MapsEntry> maps() const;
  // pread(2) of page `index` of file `file`; false on a short read.
  bool file_page(int file, std::uint64_t index, std::uint8_t* out) const;
  // pwrite(2) of page `index` of file `file`; false on a short write.
  bool write_file_page(int file, std::uint64_t index, const PageBytes& page);

 private:
  Addr base_;
  std::uint64_t span_pages_;
  std::vector<int> fds_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ids_;  // (dev, ino)
  int pagemap_fd_ = -1;
  int pagemap_errno_ = 0;
};

}  // namespace mmv::oracle
