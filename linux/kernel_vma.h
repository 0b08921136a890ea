/*
 * The kernel's mm/vma.c, compiled here as tools/testing/vma/vma.c compiles
 * it: that directory's vma_internal.h stands in for the kernel headers, the
 * maple tree is the real one (tools/testing/shared). Include once, from
 * vma_shim.c only. Kernel code keeps the kernel's warnings: this header is
 * a system header, so -Wall -Wextra -Werror apply to mmverify's code alone.
 *
 * Two harness functions are replaced by the booted kernel's behaviour
 * (vma_shim.c says why): anon_vma_clone, and vma_close, which the stable
 * 6.12 mm/vma.c calls and the harness lacks.
 */
#ifndef MMV_LINUX_KERNEL_VMA_H
#define MMV_LINUX_KERNEL_VMA_H

#pragma GCC system_header

#include "maple-shared.h"

#define anon_vma_clone harness_anon_vma_clone
#include "vma_internal.h"
#undef anon_vma_clone

/* A kernel warning (WARN_ON and friends, VM_WARN_ON) is a finding, not a
 * line on stderr: it is kept for the runner to report (vma_shim.c). Each
 * fires every time, so that a shrunk sequence still shows it. */
void mmv_linux_warn(const char *format, ...) __attribute__((format(printf, 1, 2)));
#undef __WARN_printf
#define __WARN_printf(arg...) mmv_linux_warn(arg)
#undef WARN_ON_ONCE
#define WARN_ON_ONCE(condition) WARN_ON(condition)
#undef WARN_ONCE
#define WARN_ONCE(condition, format...) WARN(condition, format)

int mmv_anon_vma_clone(struct vm_area_struct *dst, struct vm_area_struct *src);
void mmv_vma_close(struct vm_area_struct *vma);
#define anon_vma_clone mmv_anon_vma_clone
#define vma_close mmv_vma_close

#include "mm/vma.h"
#include "mm/vma.c"

#endif /* MMV_LINUX_KERNEL_VMA_H */
