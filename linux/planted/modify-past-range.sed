# vma_modify: the trailing part is split off only when it is longer than a
# page, so a flag change (mprotect, madvise) also lands on the one page
# after its range.
s/^\tif (vma->vm_end > end) {$/\tif (vma->vm_end > end + PAGE_SIZE) {/
