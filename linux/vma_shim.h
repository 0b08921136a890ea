/*
 * The linux side: a narrow C API over Linux's own mm/vma.c, compiled in user
 * space the way the kernel's tools/testing/vma/ compiles it (its stub
 * headers, the real maple tree, liburcu). docs/linux.md says what is checked.
 *
 * Each call is what one system call does to the VMA tree of a booted kernel:
 * the parts of mm/mmap.c, mm/mprotect.c, mm/madvise.c, mm/memory.c and
 * mm/rmap.c that decide which VMA functions run are re-written in
 * vma_shim.c, and the VMA functions themselves are the kernel's.
 *
 * Thread safety: none. One mm is used by one thread at a time (the calls
 * share the harness's `current`).
 */
#ifndef MMV_LINUX_VMA_SHIM_H
#define MMV_LINUX_VMA_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mmv_linux_mm;

/* One VMA as a walk of the tree sees it. */
struct mmv_linux_vma {
	unsigned long start, end;   /* [start, end), page aligned */
	unsigned long flags;        /* vm_flags (VM_* values of x86-64) */
	unsigned long pgoff;        /* vm_pgoff: the file page mapped at start */
	int file;                   /* the file slot mapped, or -1: anonymous */
	const void *anon_vma;       /* identity of its anon_vma, NULL if none */
};

/* The number of files an mm can map (slots 0 .. MMV_LINUX_FILES - 1). */
#define MMV_LINUX_FILES 4

/* A new, empty mm; NULL when out of memory. */
struct mmv_linux_mm *mmv_linux_mm_new(void);
/* Frees the mm, its VMAs and its anon_vmas. */
void mmv_linux_mm_free(struct mmv_linux_mm *mm);

/*
 * mmap(addr, len, prot, MAP_FIXED_NOREPLACE | (shared ? MAP_SHARED :
 * MAP_PRIVATE), file or anonymous, pgoff) then, for each bit of `advice`
 * (VM_HUGEPAGE or VM_NOHUGEPAGE), madvise() of the new range. `prot` is
 * VM_READ | VM_WRITE | VM_EXEC bits. Returns 0 or a negative errno.
 */
int mmv_linux_mmap(struct mmv_linux_mm *mm, unsigned long addr, unsigned long len,
		   unsigned long prot, int shared, int file, unsigned long pgoff,
		   unsigned long advice);
/* munmap(start, len): 0 or a negative errno. */
int mmv_linux_munmap(struct mmv_linux_mm *mm, unsigned long start, unsigned long len);
/* mprotect(start, len, prot), prot as VM_* bits: 0 or a negative errno. */
int mmv_linux_mprotect(struct mmv_linux_mm *mm, unsigned long start, unsigned long len,
		       unsigned long prot);
/*
 * What a CPU store at `addr` does to the VMA tree: the fault gives a
 * private VMA its anon_vma (anon_vma_prepare) before it allocates the
 * anonymous page. 0, or -EFAULT where the store takes SIGSEGV (no VMA, or
 * no write permission). The page tables themselves are not modelled here.
 */
int mmv_linux_write_fault(struct mmv_linux_mm *mm, unsigned long addr);

/*
 * The first kernel warning (WARN_ON, VM_WARN_ON, ...) since the last call,
 * as the kernel printed it ("assertion failed at mm/vma.c:1172"), or NULL.
 * Reading it clears it.
 */
const char *mmv_linux_take_warning(void);

/* Copies up to `max` VMAs in address order; returns how many there are. */
size_t mmv_linux_vmas(struct mmv_linux_mm *mm, struct mmv_linux_vma *out, size_t max);

#ifdef __cplusplus
}
#endif

#endif /* MMV_LINUX_VMA_SHIM_H */
