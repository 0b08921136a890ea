#include "model/oracle/kernel_space.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mmv::oracle {
namespace {

long sys_mmap(Addr addr, std::uint64_t len, int prot, int flags, int fd,
              std::uint64_t off) {
  return syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int result(long rc) { return rc == -1 ? errno : 0; }

struct RawMapsLine {
  Addr start = 0;
  Addr end = 0;
  std::string perms;
  std::uint64_t offset = 0;
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  std::uint64_t inode = 0;
};

std::vector<RawMapsLine> read_maps() {
  std::vector<RawMapsLine> out;
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    RawMapsLine l;
    char perms[8] = {};
    unsigned long long start = 0, end = 0, offset = 0, inode = 0;
    unsigned maj = 0, min = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu", &start,
                    &end, perms, &offset, &maj, &min, &inode) != 7) {
      continue;
    }
    l.start = start;
    l.end = end;
    l.perms = perms;
    l.offset = offset;
    l.dev_major = maj;
    l.dev_minor = min;
    l.inode = inode;
    out.push_back(l);
  }
  return out;
}

bool span_free(Addr lo, Addr hi) {
  for (const auto& l : read_maps()) {
    if (l.start < hi && lo < l.end) return false;
  }
  return true;
}

}  // namespace

std::optional<Errc> errc_of(int e) {
  switch (e) {
    case EPERM: return Errc::kPerm;
    case ENOMEM: return Errc::kNoMem;
    case EFAULT: return Errc::kFault;
    case EBUSY: return Errc::kBusy;
    case EEXIST: return Errc::kExist;
    case EINVAL: return Errc::kInval;
    case EACCES: return Errc::kAccess;
    case EOVERFLOW: return Errc::kOverflow;
    default: return std::nullopt;
  }
}

std::vector<MapsEntry> normalize(std::vector<MapsEntry> entries) {
  std::vector<MapsEntry> out;
  for (const auto& e : entries) {
    if (!out.empty()) {
      MapsEntry& p = out.back();
      const bool same = p.end == e.start && p.read == e.read &&
                        p.write == e.write && p.exec == e.exec &&
                        p.shared == e.shared && p.file == e.file;
      const bool contiguous =
          p.file == kAnonFile ||
          p.pgoff + ((p.end - p.start) >> kPageShift) == e.pgoff;
      if (same && contiguous) {
        p.end = e.end;
        continue;
      }
    }
    MapsEntry n = e;
    if (n.file == kAnonFile) n.pgoff = 0;
    out.push_back(n);
  }
  return out;
}

std::string to_string(const MapsEntry& e, Addr base) {
  std::ostringstream os;
  os << "[B+0x" << std::hex << (e.start - base) << ", B+0x" << (e.end - base)
     << ") " << std::dec << (e.read ? 'r' : '-') << (e.write ? 'w' : '-')
     << (e.exec ? 'x' : '-') << (e.shared ? 's' : 'p') << ' ';
  if (e.file == kAnonFile) {
    os << "anon";
  } else if (e.file == kOtherFile) {
    os << "other-file pgoff " << e.pgoff;
  } else {
    os << "file" << e.file << " pgoff " << e.pgoff;
  }
  return os.str();
}

std::optional<Addr> find_scratch_base(std::uint64_t span_pages,
                                      std::string* why) {
  // 32 TiB (plain and ASan builds); 80 TiB; 448 GiB (inside TSan's low
  // application range).
  constexpr std::array<Addr, 3> kCandidates = {0x200000000000, 0x500000000000,
                                               0x7000000000};
  const std::uint64_t len = span_pages * kPageSize;
  std::ostringstream tried;
  for (Addr c : kCandidates) {
    if (!span_free(c, c + len)) {
      tried << " 0x" << std::hex << c << " (in use in /proc/self/maps)";
      continue;
    }
    const long got = sys_mmap(c, len, PROT_NONE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                              -1, 0);
    if (got == -1) {
      tried << " 0x" << std::hex << c << " (mmap: " << std::strerror(errno)
            << ")";
      continue;
    }
    syscall(SYS_munmap, static_cast<Addr>(got), len);
    if (static_cast<Addr>(got) == c) return c;
    tried << " 0x" << std::hex << c << " (mmap placed it elsewhere)";
  }
  *why = "no usable scratch base; tried:" + tried.str();
  return std::nullopt;
}

KernelSpace::KernelSpace(Addr base, std::uint64_t span_pages,
                         const std::vector<std::vector<PageBytes>>& files)
    : base_(base), span_pages_(span_pages) {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string dir = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  for (const auto& pages : files) {
    std::string path = dir + "/mmv-oracle-XXXXXX";
    const int fd = mkstemp(path.data());
    if (fd < 0) {
      throw std::runtime_error("mkstemp in " + dir + ": " + std::strerror(errno));
    }
    unlink(path.c_str());
    fds_.push_back(fd);
    for (std::size_t i = 0; i < pages.size(); ++i) {
      if (!write_file_page(static_cast<int>(fds_.size() - 1), i, pages[i])) {
        throw std::runtime_error(std::string("pwrite: ") + std::strerror(errno));
      }
    }
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      throw std::runtime_error(std::string("fstat: ") + std::strerror(errno));
    }
    ids_.emplace_back(st.st_dev, st.st_ino);
  }
  pagemap_fd_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap_fd_ < 0) pagemap_errno_ = errno;
}

KernelSpace::~KernelSpace() {
  syscall(SYS_munmap, base_, span_pages_ * kPageSize);
  for (int fd : fds_) close(fd);
  if (pagemap_fd_ >= 0) close(pagemap_fd_);
}

int KernelSpace::mmap(Addr addr, std::uint64_t len, int prot, bool shared,
                      int file, std::uint64_t pgoff, bool fixed, Addr* out) {
  int flags = shared ? MAP_SHARED : MAP_PRIVATE;
  if (fixed) flags |= MAP_FIXED_NOREPLACE;
  int fd = -1;
  if (file < 0) {
    flags |= MAP_ANONYMOUS;
    pgoff = 0;
  } else {
    fd = fds_.at(static_cast<std::size_t>(file));
  }
  const long rc = sys_mmap(addr, len, prot, flags, fd, pgoff * kPageSize);
  if (rc == -1) return errno;
  *out = static_cast<Addr>(rc);
  return 0;
}

int KernelSpace::munmap(Addr addr, std::uint64_t len) {
  return result(syscall(SYS_munmap, addr, len));
}

int KernelSpace::mprotect(Addr addr, std::uint64_t len, int prot) {
  return result(syscall(SYS_mprotect, addr, len, prot));
}

int KernelSpace::madvise_dontneed(Addr addr, std::uint64_t len) {
  return result(syscall(SYS_madvise, addr, len, MADV_DONTNEED));
}

int KernelSpace::madvise_populate_write(Addr addr, std::uint64_t len) {
  return result(syscall(SYS_madvise, addr, len, MADV_POPULATE_WRITE));
}

namespace {
int vm_rw(Addr remote, void* local, std::size_t len, bool write) {
  iovec l{local, len};
  iovec r{reinterpret_cast<void*>(remote), len};
  const long rc = syscall(write ? SYS_process_vm_writev : SYS_process_vm_readv,
                          getpid(), &l, 1UL, &r, 1UL, 0UL);
  if (rc == -1) return errno;
  return static_cast<std::size_t>(rc) == len ? 0 : EFAULT;
}
}  // namespace

int KernelSpace::read_byte(Addr addr, std::uint8_t* out) {
  return vm_rw(addr, out, 1, false);
}

int KernelSpace::write_byte(Addr addr, std::uint8_t value) {
  return vm_rw(addr, &value, 1, true);
}

int KernelSpace::read_page(Addr addr, std::uint8_t* out) {
  return vm_rw(addr, out, kPageSize, false);
}

std::optional<std::vector<bool>> KernelSpace::present_bits(std::string* why) const {
  if (pagemap_fd_ < 0) {
    *why = std::string("cannot open /proc/self/pagemap: ") +
           std::strerror(pagemap_errno_);
    return std::nullopt;
  }
  std::vector<std::uint64_t> entries(span_pages_);
  const auto bytes = entries.size() * sizeof(std::uint64_t);
  const ssize_t got = pread(pagemap_fd_, entries.data(), bytes,
                            static_cast<off_t>((base_ >> kPageShift) * 8));
  if (got != static_cast<ssize_t>(bytes)) {
    *why = std::string("short read of /proc/self/pagemap: ") +
           (got < 0 ? std::strerror(errno) : "short");
    return std::nullopt;
  }
  std::vector<bool> present(span_pages_);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    present[i] = (entries[i] >> 63) != 0;
  }
  return present;
}

std::vector<MapsEntry> KernelSpace::maps() const {
  std::vector<MapsEntry> out;
  const Addr lo = base_;
  const Addr hi = span_end();
  for (const auto& l : read_maps()) {
    if (!(l.start < hi && lo < l.end)) continue;
    MapsEntry e;
    e.start = std::max(l.start, lo);
    e.end = std::min(l.end, hi);
    e.read = l.perms.size() > 0 && l.perms[0] == 'r';
    e.write = l.perms.size() > 1 && l.perms[1] == 'w';
    e.exec = l.perms.size() > 2 && l.perms[2] == 'x';
    e.shared = l.perms.size() > 3 && l.perms[3] == 's';
    if (l.inode == 0) {
      e.file = kAnonFile;
    } else {
      e.file = kOtherFile;
      for (std::size_t i = 0; i < ids_.size(); ++i) {
        if (major(ids_[i].first) == l.dev_major &&
            minor(ids_[i].first) == l.dev_minor && ids_[i].second == l.inode) {
          e.file = static_cast<int>(i);
        }
      }
      e.pgoff = (l.offset >> kPageShift) + ((e.start - l.start) >> kPageShift);
    }
    out.push_back(e);
  }
  return out;
}

bool KernelSpace::file_page(int file, std::uint64_t index, std::uint8_t* out) const {
  const int fd = fds_.at(static_cast<std::size_t>(file));
  return pread(fd, out, kPageSize, static_cast<off_t>(index * kPageSize)) ==
         static_cast<ssize_t>(kPageSize);
}

bool KernelSpace::write_file_page(int file, std::uint64_t index, const PageBytes& page) {
  const int fd = fds_.at(static_cast<std::size_t>(file));
  const auto bytes = page.dense();
  return pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(index * kPageSize)) ==
         static_cast<ssize_t>(bytes.size());
}

}  // namespace mmv::oracle
