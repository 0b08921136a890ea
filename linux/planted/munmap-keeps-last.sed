# vms_gather_munmap_vmas: the walk stops a page before the end of the
# range, so a last VMA that begins in the range's last page is kept.
s/for_each_vma_range(\*(vms->vmi), next, vms->end) {/for_each_vma_range(*(vms->vmi), next, vms->end - PAGE_SIZE) {/
