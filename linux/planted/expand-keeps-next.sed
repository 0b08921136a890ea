# vma_expand: an expansion that swallows the next VMA whole does not
# remove it.
s/^\t\tremove_next = true;$/\t\tremove_next = false;/
