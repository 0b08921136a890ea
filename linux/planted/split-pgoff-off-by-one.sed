# __split_vma: the tail half's file offset one page too far, as if the
# offset of the split address were counted from the page after it.
s/new->vm_pgoff += ((addr - vma->vm_start) >> PAGE_SHIFT);/new->vm_pgoff += ((addr - vma->vm_start) >> PAGE_SHIFT) + 1;/
