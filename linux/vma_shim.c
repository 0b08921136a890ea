/*
 * The linux side's C API (vma_shim.h) over the kernel's own mm/vma.c.
 *
 * mm/vma.c is compiled into this file, as tools/testing/vma/vma.c does, with
 * that directory's vma_internal.h standing in for the kernel headers
 * (kernel_vma.h). What a system call does around the VMA functions lives in
 * files that are not built here (mm/mmap.c, mm/mprotect.c, mm/madvise.c,
 * mm/memory.c, mm/rmap.c): the few lines of each that decide which VMA
 * functions run, with which flags, are written again below, each naming the
 * kernel function it stands for. The kernel source stays under its own
 * licence in the build tree; this file is mmverify's.
 *
 * Where the harness's stubs would make mm/vma.c behave unlike a booted
 * kernel, this file supplies the booted kernel's behaviour instead
 * (docs/linux.md, "Stubs"):
 *  - anon_vma chains. The harness links no anon_vma_chain to a VMA, so
 *    list_is_singular(&vma->anon_vma_chain) is false for every VMA: a VMA
 *    with an anon_vma could never merge with one without, nor lend its
 *    anon_vma to a neighbour (find_mergeable_anon_vma). A booted kernel
 *    without fork links exactly one chain entry per VMA that has an
 *    anon_vma; so do anon_vma_prepare and anon_vma_clone here.
 *  - vma_close, which the stable 6.12 mm/vma.c calls and the harness's
 *    stub header lacks.
 *  - the mm's maple tree is set up as mm_init sets it up, locked from
 *    outside (by the mmap lock). The harness's own tests leave it with the
 *    tree's internal lock, and then a store that must allocate nodes
 *    (mas_nomem) takes that lock and never gives it back. It is not in RCU
 *    mode: nothing reads it under RCU here, and RCU mode changes only how
 *    the tree frees its nodes.
 */
#include "vma_shim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_vma.h"

/* x86-64, and Debian's vm.mmap_min_addr. */
#define SHIM_MMAP_MIN_ADDR 65536UL
#define SHIM_VM_MAYEXEC 0x00000040UL
#define SHIM_VM_MAYSHARE 0x00000080UL
#define SHIM_VM_NORESERVE 0x00200000UL
#define SHIM_VM_HUGETLB 0x00400000UL
#define SHIM_VM_HUGEPAGE 0x20000000UL
#define SHIM_VM_NOHUGEPAGE 0x40000000UL

/* What the harness has no room for: the files, and every anon_vma and
 * anon_vma_chain entry handed out, freed with the mm. */
struct shim_block {
	struct shim_block *next;
};

struct mmv_linux_mm {
	struct mm_struct mm;
	struct address_space mappings[MMV_LINUX_FILES];
	struct file files[MMV_LINUX_FILES];
	struct shim_block *blocks;
};

/* The mm the current call works on (the harness's `current`). */
static struct mmv_linux_mm *shim_current;
static struct task_struct shim_task;

struct task_struct *get_current(void)
{
	shim_task.mm = shim_current ? &shim_current->mm : NULL;
	return &shim_task;
}

static char shim_warning[256];
static bool shim_warned;

void mmv_linux_warn(const char *format, ...)
{
	va_list ap;

	if (shim_warned)
		return;
	va_start(ap, format);
	vsnprintf(shim_warning, sizeof(shim_warning), format, ap);
	va_end(ap);
	shim_warning[strcspn(shim_warning, "\n")] = '\0';
	shim_warned = true;
}

const char *mmv_linux_take_warning(void)
{
	if (!shim_warned)
		return NULL;
	shim_warned = false;
	return shim_warning;
}

const struct vm_operations_struct vma_dummy_vm_ops;
/* A file's vm_ops, as its ->mmap sets them: no ->close, so file VMAs merge. */
static const struct vm_operations_struct shim_file_vm_ops;

static void *shim_alloc(struct mmv_linux_mm *m, size_t size)
{
	struct shim_block *b = calloc(1, sizeof(*b) + size);

	if (!b)
		return NULL;
	b->next = m->blocks;
	m->blocks = b;
	return b + 1;
}

/* vm_flags_reset (the harness has no setters: mm/vma.c writes no flags). */
static void shim_set_flags(struct vm_area_struct *vma, unsigned long flags)
{
	vma->__vm_flags = flags;
}

/* mm/rmap.c, anon_vma_chain_link: one chain entry per (VMA, anon_vma). */
static int shim_chain(struct vm_area_struct *vma, struct anon_vma *anon_vma)
{
	struct mmv_linux_mm *m = (struct mmv_linux_mm *)vma->vm_mm;
	struct anon_vma_chain *avc = shim_alloc(m, sizeof(*avc));

	if (!avc)
		return -ENOMEM;
	avc->anon_vma = anon_vma;
	list_add(&avc->same_vma, &vma->anon_vma_chain);
	return 0;
}

/* mm/rmap.c, anon_vma_clone: dst gets a chain entry for each of src's. The
 * callers in mm/vma.c set dst->anon_vma themselves. */
int mmv_anon_vma_clone(struct vm_area_struct *dst, struct vm_area_struct *src)
{
	struct anon_vma_chain *pavc;

	list_for_each_entry_reverse(pavc, &src->anon_vma_chain, same_vma) {
		if (shim_chain(dst, pavc->anon_vma))
			return -ENOMEM;
	}
	return 0;
}

/* mm/internal.h, vma_close. */
void mmv_vma_close(struct vm_area_struct *vma)
{
	if (vma->vm_ops && vma->vm_ops->close) {
		vma->vm_ops->close(vma);
		vma->vm_ops = &vma_dummy_vm_ops;
	}
}

/* mm/rmap.c, __anon_vma_prepare: reuse a neighbour's anon_vma where
 * find_mergeable_anon_vma allows, else a new one. */
static int shim_anon_vma_prepare(struct mmv_linux_mm *m, struct vm_area_struct *vma)
{
	struct anon_vma *anon_vma;

	if (vma->anon_vma)
		return 0;
	anon_vma = find_mergeable_anon_vma(vma);
	if (!anon_vma) {
		anon_vma = shim_alloc(m, sizeof(*anon_vma));
		if (!anon_vma)
			return -ENOMEM;
		anon_vma->root = anon_vma;
	}
	if (shim_chain(vma, anon_vma))
		return -ENOMEM;
	vma->anon_vma = anon_vma;
	return 0;
}

struct mmv_linux_mm *mmv_linux_mm_new(void)
{
	static bool maple_ready;
	struct mmv_linux_mm *m = calloc(1, sizeof(*m));
	int i;

	if (!m)
		return NULL;
	if (!maple_ready) {
		maple_tree_init();
		maple_ready = true;
	}
	/* mm_init: MM_MT_FLAGS, but for MT_FLAGS_USE_RCU (above). */
	mt_init_flags(&m->mm.mm_mt, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_LOCK_EXTERN);
	for (i = 0; i < MMV_LINUX_FILES; i++)
		m->files[i].f_mapping = &m->mappings[i];
	return m;
}

void mmv_linux_mm_free(struct mmv_linux_mm *m)
{
	struct vm_area_struct *vma;
	VMA_ITERATOR(vmi, &m->mm, 0);

	if (!m)
		return;
	shim_current = m;
	for_each_vma(vmi, vma)
		vm_area_free(vma);
	mtree_destroy(&m->mm.mm_mt);
	while (m->blocks) {
		struct shim_block *b = m->blocks;

		m->blocks = b->next;
		free(b);
	}
	shim_current = NULL;
	free(m);
}

/* mm/madvise.c, madvise_vma_behavior for MADV_HUGEPAGE / MADV_NOHUGEPAGE
 * (hugepage_madvise), through madvise_update_vma, over [start, end), which
 * the caller has just mapped whole. */
static int shim_madvise_huge(struct mmv_linux_mm *m, unsigned long start, unsigned long end,
			     unsigned long advice)
{
	struct vm_area_struct *vma, *prev;
	VMA_ITERATOR(vmi, &m->mm, start);

	vma = vma_find(&vmi, end);
	prev = vma_prev(&vmi);
	if (vma && start > vma->vm_start)
		prev = vma;
	for_each_vma_range(vmi, vma, end) {
		unsigned long s = vma->vm_start > start ? vma->vm_start : start;
		unsigned long e = vma->vm_end < end ? vma->vm_end : end;
		unsigned long new_flags = vma->vm_flags;

		if (advice == SHIM_VM_HUGEPAGE)
			new_flags = (new_flags & ~SHIM_VM_NOHUGEPAGE) | SHIM_VM_HUGEPAGE;
		else
			new_flags = (new_flags & ~SHIM_VM_HUGEPAGE) | SHIM_VM_NOHUGEPAGE;
		if (new_flags != vma->vm_flags) {
			vma = vma_modify_flags(&vmi, prev, vma, s, e, new_flags);
			if (IS_ERR(vma))
				return PTR_ERR(vma);
			vma_start_write(vma);
			shim_set_flags(vma, new_flags);
		}
		prev = vma;
	}
	return 0;
}

/* mm/mmap.c, accountable_mapping (no hugetlb files here). */
static bool shim_accountable(unsigned long vm_flags)
{
	return (vm_flags & (SHIM_VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE;
}

int mmv_linux_mmap(struct mmv_linux_mm *m, unsigned long addr, unsigned long len,
		   unsigned long prot, int shared, int file, unsigned long pgoff,
		   unsigned long advice)
{
	struct file *f = NULL;
	unsigned long vm_flags, end;
	struct vm_area_struct *vma;
	int err = 0;

	shim_current = m;
	/* do_mmap, for MAP_FIXED_NOREPLACE. */
	if (!len)
		return -EINVAL;
	if (len > TASK_SIZE)
		return -ENOMEM;
	len = PAGE_ALIGN(len);
	if (!len)
		return -ENOMEM;
	if (file >= 0) {
		if (file >= MMV_LINUX_FILES)
			return -EBADF;
		if (pgoff + (len >> PAGE_SHIFT) < pgoff)
			return -EOVERFLOW;
		f = &m->files[file];
	}
	/* __get_unmapped_area for MAP_FIXED, then security_mmap_addr. */
	if (addr > TASK_SIZE - len)
		return -ENOMEM;
	if (offset_in_page(addr))
		return -EINVAL;
	if (addr < SHIM_MMAP_MIN_ADDR)
		return -EPERM;
	end = addr + len;
	if (find_vma_intersection(&m->mm, addr, end))
		return -EEXIST;
	vm_flags = (prot & VM_ACCESS_FLAGS) | VM_MAYREAD | VM_MAYWRITE | SHIM_VM_MAYEXEC;
	if (shared)
		vm_flags |= VM_SHARED | SHIM_VM_MAYSHARE;
	if (!f) {
		if (shared)
			return -EINVAL; /* shmem_zero_setup: not modelled */
		pgoff = addr >> PAGE_SHIFT;
	}

	{
		/* mmap_region -> __mmap_region, with nothing to unmap. */
		VMA_ITERATOR(vmi, &m->mm, addr);
		VMG_STATE(vmg, &m->mm, &vmi, addr, end, vm_flags, pgoff);

		vmg.file = f;
		vmg.next = vma_iter_next_rewind(&vmi, &vmg.prev);
		if (shim_accountable(vm_flags)) {
			vm_flags |= VM_ACCOUNT;
			vmg.flags = vm_flags;
		}
		vma = vma_merge_new_range(&vmg);
		if (!vma) {
			if (vmg_nomem(&vmg))
				return -ENOMEM;
			vma = vm_area_alloc(&m->mm);
			if (!vma)
				return -ENOMEM;
			vma_iter_config(&vmi, addr, end);
			vma_set_range(vma, addr, end, pgoff);
			shim_set_flags(vma, vm_flags);
			if (vma_iter_prealloc(&vmi, vma)) {
				vm_area_free(vma);
				return -ENOMEM;
			}
			if (f) {
				vma->vm_file = f;
				vma->vm_ops = &shim_file_vm_ops; /* mmap_file */
			} else {
				vma->vm_ops = NULL; /* vma_set_anonymous */
			}
			vma_start_write(vma);
			vma_iter_store(&vmi, vma);
			m->mm.map_count++;
			vma_link_file(vma);
		}
		vm_stat_account(&m->mm, vm_flags, len >> PAGE_SHIFT);
	}
	if (advice & SHIM_VM_HUGEPAGE)
		err = shim_madvise_huge(m, addr, end, SHIM_VM_HUGEPAGE);
	if (!err && (advice & SHIM_VM_NOHUGEPAGE))
		err = shim_madvise_huge(m, addr, end, SHIM_VM_NOHUGEPAGE);
	return err;
}

int mmv_linux_munmap(struct mmv_linux_mm *m, unsigned long start, unsigned long len)
{
	LIST_HEAD(uf);
	VMA_ITERATOR(vmi, &m->mm, start);

	shim_current = m;
	/* __vm_munmap. */
	return do_vmi_munmap(&vmi, &m->mm, start, len, &uf, false);
}

/* mm/mprotect.c, mprotect_fixup, without the page tables. */
static int shim_mprotect_fixup(struct vma_iterator *vmi, struct vm_area_struct *vma,
			       struct vm_area_struct **pprev, unsigned long start,
			       unsigned long end, unsigned long newflags)
{
	unsigned long oldflags = vma->vm_flags;
	long nrpages = (end - start) >> PAGE_SHIFT;

	if (newflags == oldflags) {
		*pprev = vma;
		return 0;
	}
	if (newflags & VM_WRITE) {
		if (!(oldflags & (VM_ACCOUNT | VM_WRITE | SHIM_VM_HUGETLB | VM_SHARED |
				  SHIM_VM_NORESERVE)))
			newflags |= VM_ACCOUNT;
	} else if ((oldflags & VM_ACCOUNT) && vma_is_anonymous(vma) && !vma->anon_vma) {
		newflags &= ~VM_ACCOUNT;
	}
	vma = vma_modify_flags(vmi, *pprev, vma, start, end, newflags);
	if (IS_ERR(vma))
		return PTR_ERR(vma);
	*pprev = vma;
	vma_start_write(vma);
	shim_set_flags(vma, newflags);
	vm_stat_account(vma->vm_mm, oldflags, -nrpages);
	vm_stat_account(vma->vm_mm, newflags, nrpages);
	return 0;
}

int mmv_linux_mprotect(struct mmv_linux_mm *m, unsigned long start, unsigned long len,
		       unsigned long prot)
{
	unsigned long nstart, end, tmp;
	struct vm_area_struct *vma, *prev;
	struct vma_iterator vmi;
	int error;

	shim_current = m;
	/* do_mprotect_pkey, no pkeys, no PROT_GROWS*. */
	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end <= start)
		return -ENOMEM;
	if (prot & ~VM_ACCESS_FLAGS)
		return -EINVAL; /* arch_validate_prot */

	vma_iter_init(&vmi, &m->mm, start);
	vma = vma_find(&vmi, end);
	if (!vma || vma->vm_start > start)
		return -ENOMEM;
	prev = vma_prev(&vmi);
	if (start > vma->vm_start)
		prev = vma;

	nstart = start;
	tmp = vma->vm_start;
	error = 0;
	for_each_vma_range(vmi, vma, end) {
		unsigned long newflags;

		if (vma->vm_start != tmp) {
			error = -ENOMEM;
			break;
		}
		newflags = prot | (vma->vm_flags & ~VM_ACCESS_FLAGS);
		/* newflags >> 4 shifts VM_MAY* in place of VM_* */
		if ((newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS) {
			error = -EACCES;
			break;
		}
		tmp = vma->vm_end;
		if (tmp > end)
			tmp = end;
		error = shim_mprotect_fixup(&vmi, vma, &prev, nstart, tmp, newflags);
		if (error)
			break;
		tmp = vma_iter_end(&vmi);
		nstart = tmp;
	}
	if (!error && tmp < end)
		error = -ENOMEM;
	return error;
}

int mmv_linux_write_fault(struct mmv_linux_mm *m, unsigned long addr)
{
	struct vm_area_struct *vma;

	shim_current = m;
	/* lock_mm_and_find_vma, then access_error for a write. */
	vma = vma_lookup(&m->mm, addr);
	if (!vma || !(vma->vm_flags & VM_WRITE))
		return -EFAULT;
	/* A shared mapping writes to the page cache; every private write
	 * (do_anonymous_page, do_cow_fault, wp_page_copy,
	 * do_huge_pmd_anonymous_page) prepares the anon_vma first, before it
	 * even looks at the file: a store beyond the end of a private file
	 * mapping gets its SIGBUS after that. */
	if (vma->vm_flags & VM_SHARED)
		return 0;
	return shim_anon_vma_prepare(m, vma);
}

size_t mmv_linux_vmas(struct mmv_linux_mm *m, struct mmv_linux_vma *out, size_t max)
{
	struct vm_area_struct *vma;
	size_t n = 0;
	VMA_ITERATOR(vmi, &m->mm, 0);

	shim_current = m;
	for_each_vma(vmi, vma) {
		if (n < max) {
			struct mmv_linux_vma *v = &out[n];

			v->start = vma->vm_start;
			v->end = vma->vm_end;
			v->flags = vma->vm_flags;
			v->pgoff = vma->vm_pgoff;
			v->file = vma->vm_file ? (int)(vma->vm_file - m->files) : -1;
			v->anon_vma = vma->anon_vma;
		}
		n++;
	}
	return n;
}
