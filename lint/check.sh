#!/usr/bin/env bash
# The lint label's checks (lint/CMakeLists.txt), one per argument:
#
#   lint/check.sh workflows   every .github/workflows/*.yml is a valid
#                             GitHub Actions workflow (@action-validator/cli,
#                             pinned in lint/package-lock.json)
#   lint/check.sh commands    every project command a workflow runs
#                             (scripts/..., bench/...) is written, exactly so,
#                             in README.md or a page of docs/: CI runs what
#                             users run
#   lint/check.sh links       every relative link and #anchor in the
#                             project's Markdown resolves (check_docs.py)
#   lint/check.sh outputs DIR every build output and script that a fenced
#                             command of README.md or docs/ names exists
#                             (DIR: the default build; check_docs.py)
#   lint/check.sh help DIR    every tool's --help names its page of docs/
#                             (DIR: the build holding the tools)
#   lint/check.sh lincheck DIR
#                             lincheck/ includes nothing of the repository
#                             but itself and testing/cli.h, and builds and
#                             passes its tests on its own, in DIR
#   lint/check.sh shell       shellcheck passes on every shell script
#   lint/check.sh python      the Python scripts compile (Debian's python3)
#
# The tools come from scripts/install-deps.sh; a missing one is a failure
# that says so, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "lint: $*" >&2; exit 1; }

# Files of the checkout (tracked or new, not ignored); a tree without git
# (an unpacked tarball) is walked instead.
project_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard
  else
    find . -path ./build -prune -o -path ./lint/node_modules -prune -o -path ./.git -prune -o -type f -print |
      sed 's|^\./||'
  fi
}

workflows() {
  local files=(.github/workflows/*.yml)
  [ -e "${files[0]}" ] || fail "no workflow files in .github/workflows/"
  local validator=lint/node_modules/.bin/action-validator
  [ -x "$validator" ] || fail "$validator missing: run scripts/install-deps.sh"
  for f in "${files[@]}"; do
    "$validator" "$f" || fail "$f: not a valid workflow (see above)"
    echo "valid: $f"
  done
}

commands() {
  local n=0 cmd
  # `run: CMD` and the matrix's `command: CMD` lines whose command is one of
  # the project's own (the bootstrap's apt-get lines are not).
  while IFS= read -r cmd; do
    n=$((n + 1))
    grep -qF -- "$cmd" README.md docs/*.md || fail "a workflow runs \`$cmd\`, which neither README.md nor docs/ shows"
    echo "documented: $cmd"
  done < <(sed -nE 's/^ *-? *(run|command): *(.*(scripts|bench)\/.*)$/\2/p' .github/workflows/*.yml)
  [ "$n" -gt 0 ] || fail "found no project command in .github/workflows/*.yml"
}

shell() {
  command -v shellcheck >/dev/null || fail "shellcheck missing: run scripts/install-deps.sh"
  local scripts=() f
  while IFS= read -r f; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sh) scripts+=("$f") ;;
      *.*) ;;
      *) if head -n 1 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then scripts+=("$f"); fi ;;
    esac
  done < <(project_files)
  [ ${#scripts[@]} -gt 0 ] || fail "found no shell scripts"
  shellcheck "${scripts[@]}" || fail "shellcheck found problems (above)"
  printf 'shellcheck clean: %s\n' "${scripts[@]}"
}

python() {
  local py=(scripts/compare-bench scripts/plot-bench scripts/bench_json.py lint/check_docs.py)
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  for f in "${py[@]}"; do
    /usr/bin/python3 -c 'import sys, py_compile; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
      "$f" "$tmp/out.pyc" || fail "$f does not compile"
    echo "compiles: $f"
  done
}

lincheck() {
  # Quoted includes of lincheck/ name lincheck/ itself or the option parser.
  local bad
  bad=$(grep -nE '^#include "' lincheck/*.h lincheck/*.cc | grep -vE '#include "(lincheck/[a-z_]+\.h|testing/cli\.h)"' || true)
  [ -z "$bad" ] || fail "lincheck/ includes code outside itself: $bad"
  echo "includes: lincheck/ and testing/cli.h only"
  local dir=$1
  rm -rf "$dir"
  cmake -S lincheck -B "$dir" -G Ninja >"$dir.log" 2>&1 || { cat "$dir.log"; fail "lincheck/ alone does not configure"; }
  cmake --build "$dir" -j "$(nproc)" >>"$dir.log" 2>&1 || { tail -n 40 "$dir.log"; fail "lincheck/ alone does not build"; }
  ctest --test-dir "$dir" -L unit -j "$(nproc)" --output-on-failure | tail -n 3
}

usage="usage: lint/check.sh workflows|commands|shell|python|links | outputs DIR | help DIR | lincheck DIR"
case "${1:-}" in
  workflows|commands|shell|python) [ $# -eq 1 ] || fail "$usage"; "$1" ;;
  links) [ $# -eq 1 ] || fail "$usage"; /usr/bin/python3 lint/check_docs.py links ;;
  outputs|help) [ $# -eq 2 ] || fail "$usage"; /usr/bin/python3 lint/check_docs.py "$1" "$2" ;;
  lincheck) [ $# -eq 2 ] || fail "$usage"; lincheck "$2" ;;
  *) fail "unknown check '${1:-}'; $usage" ;;
esac
