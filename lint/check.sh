#!/usr/bin/env bash
# The lint label's checks (lint/CMakeLists.txt), one per argument:
#
#   lint/check.sh workflows   every .github/workflows/*.yml is a valid
#                             GitHub Actions workflow (@action-validator/cli,
#                             pinned in lint/package-lock.json)
#   lint/check.sh commands    every project command a workflow runs
#                             (scripts/..., bench/...) is written, exactly so,
#                             in README.md: CI runs what users run
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
    grep -qF -- "$cmd" README.md || fail "a workflow runs \`$cmd\`, which README.md does not show"
    echo "in README: $cmd"
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
  local py=(scripts/compare-bench scripts/plot-bench scripts/bench_json.py)
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  for f in "${py[@]}"; do
    /usr/bin/python3 -c 'import sys, py_compile; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
      "$f" "$tmp/out.pyc" || fail "$f does not compile"
    echo "compiles: $f"
  done
}

[ $# -eq 1 ] || fail "usage: lint/check.sh workflows|commands|shell|python"
case "$1" in
  workflows|commands|shell|python) "$1" ;;
  *) fail "unknown check '$1'; the checks are: workflows commands shell python" ;;
esac
