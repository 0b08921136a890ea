#!/usr/bin/env bash
# Plants one bug of linux/planted/ in a copy of a prepared tree's mm/:
#
#   linux/plant.sh BUG.sed TREE OUT
#
# OUT/mm/ gets TREE/mm/'s files with BUG.sed applied to vma.c. The script
# must change exactly one line; otherwise the bug does not fit this tree
# (one line on stderr, exit status 2).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: linux/plant.sh BUG.sed TREE OUT" >&2; exit 2; }
bug=$1 tree=$2 out=$3
rm -rf "$out"
mkdir -p "$out/mm"
cp "$tree"/mm/* "$out/mm/"
sed -f "$bug" "$tree/mm/vma.c" >"$out/mm/vma.c"
changed=$(diff "$tree/mm/vma.c" "$out/mm/vma.c" | grep -c '^>' || true)
if [ "$changed" -ne 1 ]; then
  echo "planted bug $(basename "$bug" .sed): changes $changed lines of $(cat "$tree/TREE")'s mm/vma.c, not 1" >&2
  exit 2
fi
