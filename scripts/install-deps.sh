#!/usr/bin/env bash
# Installs mmverify's build and test dependencies: Debian's packages, and the
# npm tools of ctest's lint label (lint/package.json, pinned by
# lint/package-lock.json, into lint/node_modules).
# Does nothing (and needs no network) when everything is already present.
#
#   scripts/install-deps.sh
#
# Manual: docs/ci.md.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh   (no arguments; --help for more)" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build clang libclang-rt-14-dev
  libgtest-dev libgmock-dev librapidcheck-dev
  libbenchmark-dev libbenchmark-tools python3-scipy
  liburcu-dev pkgconf gcovr git
  python3-matplotlib          # scripts/plot-bench
  chromium fonts-dejavu-core  # the HTML timeline's headless-browser test
  shellcheck                  # lint label
  linux-source-6.12           # the linux side: the kernel tree whose mm/vma.c it checks (docs/linux.md)
)
# node and npm for the lint label's workflow validator; a machine whose
# Node.js came with its own npm (not Debian's package) keeps it.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "install-deps: missing packages (${missing[*]}) and not root; install them and retry" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done" >&2
fi

# The lint tools, exactly the versions package-lock.json pins; again only
# when missing or when the lock file changed since they were installed.
stamp=lint/node_modules/.installed-from-lock
if ! cmp -s lint/package-lock.json "$stamp" 2>/dev/null; then
  echo "install-deps: npm ci in lint/" >&2
  (cd lint && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp lint/package-lock.json "$stamp"
fi
