#!/usr/bin/env bash
# lint/check_docs.py must fail on what it is there to catch: in a made-up
# checkout, a broken link, a missing anchor, a build output that the build
# lacks and a tool whose --help names no page each fail with a line naming
# them; the mended checkout passes.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)/check_docs.py"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

repo="$tmp/repo" build="$tmp/build"
mkdir -p "$repo/lint" "$repo/docs" "$repo/scripts" "$repo/fuzz" "$repo/tool" "$build/tool"
cp "$src" "$repo/lint/"
echo '{"configurePresets": [{"name": "base", "hidden": true}, {"name": "default"}, {"name": "fuzz"}]}' >"$repo/CMakePresets.json"
echo 'add_executable(a_fuzzer a_fuzzer.cc)' >"$repo/fuzz/CMakeLists.txt"
echo 'add_executable(mytool main.cc)' >"$repo/tool/CMakeLists.txt"
printf '#!/bin/sh\necho "usage: mytool"\n' >"$build/tool/mytool"
chmod +x "$build/tool/mytool"
printf '#!/bin/sh\necho "Manual: docs/page.md."\n' >"$repo/scripts/run"
chmod +x "$repo/scripts/run"
cat >"$repo/README.md" <<'MD'
# Project
See [the page](docs/page.md#a-section), [a lost page](docs/gone.md) and [no such part](docs/page.md#nowhere).
```sh
build/default/tool/mytool --flag
build/default/tool/missing
build/fuzz/fuzz/a_fuzzer
build/fuzz/fuzz/b_fuzzer
scripts/run
scripts/absent
```
MD
printf '# Page\n\n## A section\n\nBack to [the top](../README.md#project) and [here](#a-section).\n' >"$repo/docs/page.md"
git -C "$repo" init -q

check() {  # check EXPECTED_STATUS ARGS...: runs the check, leaves its output in $out
  local want=$1 status=0
  shift
  out=$(/usr/bin/python3 "$repo/lint/check_docs.py" "$@" 2>&1) || status=$?
  [ "$status" -eq "$want" ] || fail "check_docs.py $*: exit $status, not $want:"$'\n'"$out"
}
expect() { grep -qF -- "$1" <<<"$out" || fail "no line '$1' in:"$'\n'"$out"; }

check 1 links
expect "README.md:2: link 'docs/gone.md': no such file"
expect "README.md:2: link 'docs/page.md#nowhere': docs/page.md has no heading '#nowhere'"
[ "$(grep -c '^lint: ' <<<"$out")" -eq 2 ] || fail "not exactly 2 problems:"$'\n'"$out"

check 1 outputs "$build"
expect "README.md:5: 'build/default/tool/missing': the default build has no tool/missing"
expect "README.md:7: 'build/fuzz/fuzz/b_fuzzer': fuzz/CMakeLists.txt declares no target 'b_fuzzer'"
expect "README.md:9: 'scripts/absent': no such file"
[ "$(grep -c '^lint: ' <<<"$out")" -eq 3 ] || fail "not exactly 3 problems:"$'\n'"$out"

check 1 help "$build"
expect "tool/mytool --help names no page of docs/"
[ "$(grep -c '^lint: ' <<<"$out")" -eq 1 ] || fail "not exactly 1 problem:"$'\n'"$out"

check 2 outputs
check 2 help "$tmp/no-such-build"

# Mended, every check passes.
sed -i -e 's| \[a lost page\](docs/gone.md) and \[no such part\](docs/page.md#nowhere)||' \
  -e '/missing\|b_fuzzer\|absent/d' "$repo/README.md"
printf '#!/bin/sh\necho "usage: mytool"\necho "Manual: docs/page.md."\n' >"$build/tool/mytool"
check 0 links
check 0 outputs "$build"
check 0 help "$build"
echo "PASS"
