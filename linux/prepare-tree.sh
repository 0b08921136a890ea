#!/usr/bin/env bash
# Copies what the linux side builds from a kernel tree into DEST, the build
# tree's copy (kernel source is never committed; docs/linux.md).
#
#   linux/prepare-tree.sh SOURCE DEST
#
# SOURCE is a kernel tree (a checkout, or an unpacked linux-source package)
# or a linux-source tarball (/usr/src/linux-source-6.12.tar.xz, which
# scripts/install-deps.sh installs). DEST gets exactly the files that
# tools/testing/vma/'s build of mm/vma.c reads (found with the compiler's
# -MM, so any tree version brings its own list), the two sources the
# harness generates from (lib/radix-tree.c, lib/idr.c), and the generated
# headers its Makefile writes. DEST/TREE names where it came from.
#
# A tree that cannot be used is one line on stderr and exit status 2: no
# mm/vma.c (Linux 6.11 and later keep the VMA code there), no
# tools/testing/vma/, or headers that tools/testing/vma/ cannot find.
set -euo pipefail

fail() { echo "linux tree: $*" >&2; exit 2; }
[ $# -eq 2 ] || fail "usage: linux/prepare-tree.sh SOURCE DEST"
src=$1 dest=$2
cc=${CC:-cc}

tmp=""
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT

if [ -f "$src" ]; then
  case "$src" in
    *.tar.xz|*.tar.gz|*.tar.bz2|*.tar) ;;
    *) fail "$src is a file but not a kernel tarball (.tar, .tar.xz, .tar.gz, .tar.bz2)" ;;
  esac
  tmp=$(mktemp -d)
  top=$( (tar -tf "$src" 2>/dev/null || true) | head -n 1 | cut -d/ -f1)
  [ -n "$top" ] || fail "$src: cannot read it as a tar archive"
  # Only the folders the harness reads from, and the top Makefile (the
  # version); the top folder is dropped.
  tar -xf "$src" -C "$tmp" --strip-components=1 --wildcards "$top/Makefile" \
    "$top/mm/*" "$top/lib/*" "$top/include/linux/*" "$top/include/uapi/*" "$top/tools/include/*" \
    "$top/tools/lib/*" "$top/tools/arch/*" "$top/tools/testing/shared/*" "$top/tools/testing/vma/*" \
    2>/dev/null || fail "$src: cannot unpack it as a kernel tree"
  tree=$tmp
elif [ -d "$src" ]; then
  tree=$(cd "$src" && pwd)
else
  fail "$src: no such file or directory"
fi

[ -f "$tree/mm/vma.c" ] || fail "$src has no mm/vma.c (the VMA code moved there in Linux 6.11)"
[ -f "$tree/mm/vma.h" ] || fail "$src has no mm/vma.h"
for f in tools/testing/vma/vma_internal.h tools/testing/shared/maple-shim.c \
         tools/testing/shared/shared.mk lib/maple_tree.c lib/radix-tree.c lib/idr.c; do
  [ -f "$tree/$f" ] || fail "$src has no $f, which tools/testing/vma/ builds from"
done

rm -rf "$dest"
mkdir -p "$dest/tools/testing/vma/generated"
gen=$dest/tools/testing/vma/generated
cp "$tree/tools/testing/shared/autoconf.h" "$gen/autoconf.h"
echo "#define XA_CHUNK_SHIFT 3" >"$gen/map-shift.h"
echo "#define CONFIG_$(getconf LONG_BIT)BIT 1" >"$gen/bit-length.h"
# As the harness's Makefile does: radix-tree.c and idr.c with their static
# functions made visible.
for f in radix-tree idr; do
  sed -e 's/^static //' -e 's/__always_inline //' -e 's/inline //' <"$tree/lib/$f.c" \
    >"$dest/tools/testing/vma/$f.c"
done

# The objects of tools/testing/vma's Makefile, with its include path; the
# last one stands for the shim, which includes mm/vma.c as the harness's
# own vma.c does.
v=tools/testing/vma
objects=(
  tools/testing/shared/maple-shim.c tools/testing/shared/xarray-shared.c tools/testing/shared/linux.c
  tools/lib/slab.c tools/lib/find_bit.c tools/lib/bitmap.c tools/lib/hweight.c tools/lib/vsprintf.c
)
probe=$(mktemp -d)
trap 'cleanup; rm -rf "$probe"' EXIT
printf '#include "maple-shared.h"\n#include "vma_internal.h"\n#include "mm/vma.h"\n#include "mm/vma.c"\n' \
  >"$probe/shim_probe.c"
flags=(-I"$tree/tools/testing/shared" -I"$tree/$v" -I"$tree/tools/include" -I"$tree/lib" -I"$tree"
       -D_LGPL_SOURCE)
deps=$probe/deps
: >"$deps"
for o in "${objects[@]}" "$dest/$v/radix-tree.c" "$dest/$v/idr.c" "$probe/shim_probe.c"; do
  [[ $o == /* ]] || o=$tree/$o
  [ -f "$o" ] || fail "$src has no ${o#"$tree"/}, which tools/testing/vma/ builds"
  # -I"$dest/$v" serves "generated/..." (written above).
  "$cc" "${flags[@]}" -I"$dest/$v" -MM -MT x "$o" >>"$deps" 2>"$probe/err" ||
    fail "tools/testing/vma cannot be built from $src: $(grep -m1 -E 'error|fatal' "$probe/err" || head -n1 "$probe/err")"
done
# Every dependency inside the tree, copied to the same place in DEST.
sed -e 's/^x://' -e 's/\\$//' "$deps" | tr ' ' '\n' | sed '/^$/d' | sort -u |
  while read -r f; do
    f=$(realpath -m "$f")
    case "$f" in
      "$tree"/*) rel=${f#"$tree"/}; mkdir -p "$dest/$(dirname "$rel")"; cp "$f" "$dest/$rel" ;;
    esac
  done
for f in "${objects[@]}"; do
  mkdir -p "$dest/$(dirname "$f")"
  cp "$tree/$f" "$dest/$f"
done
version=""
if [ -f "$tree/Makefile" ]; then
  version=$(sed -n 's/^VERSION = //p; s/^PATCHLEVEL = //p; s/^SUBLEVEL = //p' "$tree/Makefile" | paste -sd.)
fi
echo "$src${version:+ (Linux $version)}" >"$dest/TREE"
echo "linux tree: $(cat "$dest/TREE") -> $dest ($(find "$dest" -type f | wc -l) files)"
