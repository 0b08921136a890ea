#!/usr/bin/env bash
# The HTML timeline of a failed linearizability check (lincheck/timeline.h),
# rendered by a real headless Chromium (ctest label browser).
#
#   timeline_browser_test.sh lincheck LINCHECK HISTORY OUT_DIR
#       the lincheck tool's --html page of HISTORY, a planted violation
#       (lincheck/data/kv-stale-get-html-bad.edn: 9 operations, 5
#       processes, text full of HTML);
#   timeline_browser_test.sh page PAGE OUT_DIR
#       any timeline page a user of the checker wrote (the zap stress
#       workload's: stress/zap_timeline_browser_test.sh).
#
# Each page is loaded with --dump-dom, and the DOM its script built must
# hold the operations (bars with their labels, one lane per client), the
# highlighted window and the prefix line; then a screenshot
# (OUT_DIR/<mode>.png) must be a real PNG of some size. The DOM is left in
# OUT_DIR/<mode>.dom.html. The page's text is checked to arrive as text,
# never as markup. $CHROMIUM overrides the browser (default: chromium, which
# scripts/install-deps.sh installs).
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

mode=${1:-}
case "$mode" in
  lincheck) [[ $# -eq 4 ]] || fail "usage: $0 lincheck LINCHECK HISTORY OUT_DIR" ;;
  page) [[ $# -eq 3 ]] || fail "usage: $0 page PAGE OUT_DIR" ;;
  *) fail "usage: $0 lincheck LINCHECK HISTORY OUT_DIR | page PAGE OUT_DIR" ;;
esac
out=${!#}
browser=${CHROMIUM:-chromium}
command -v "$browser" >/dev/null || fail "no $browser on PATH: scripts/install-deps.sh installs it"

rm -rf "$out"
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

chromium_run() {
  # A fresh profile each time; no network, no first-run work.
  local dir
  dir=$(mktemp -d "$profile/run.XXXXXX")
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$dir" "$@" 2>>"$out/chromium.log"
}

# How many times the fixed string (occurrences) or the extended regular
# expression (matches) $2 occurs in file $1.
occurrences() { { grep -oF -- "$2" "$1" || true; } | wc -l; }
matches() { { grep -oE -- "$2" "$1" || true; } | wc -l; }

expect_in() {
  grep -qF -- "$2" "$1" || fail "$1 lacks: $2"
}
expect_not_in() {
  if grep -qF -- "$2" "$1"; then fail "$1 has: $2"; fi
}

# Renders $1 (a page) and checks what every timeline must show: $2 bars in
# $3 lanes (0: any number), some highlighted, the prefix line. Leaves the
# DOM in $out/$mode.dom.html and the screenshot in $out/$mode.png.
check_page() {
  local page=$1 ops=$2 lanes=$3
  local dom=$out/$mode.dom.html png=$out/$mode.png
  [[ -s $page ]] || fail "no page at $page"
  chromium_run --dump-dom "file://$page" >"$dom" || fail "chromium --dump-dom failed (see $out/chromium.log)"
  local drawn
  drawn=$(grep -o 'data-rendered="[0-9]*"' "$dom" | grep -o '[0-9][0-9]*' || true)
  [[ -n $drawn ]] || fail "the page's script drew nothing (no data-rendered in $dom)"
  local bars
  bars=$(occurrences "$dom" '<div class="op ')
  [[ $bars -gt 0 && $bars -eq $drawn ]] || fail "$bars bars drawn, the script counted $drawn"
  if [[ $ops -gt 0 ]]; then
    [[ $bars -eq $ops ]] || fail "$bars bars for $ops operations"
  fi
  local highlighted
  highlighted=$(matches "$dom" 'class="op [a-z ]*window')
  [[ $highlighted -gt 0 ]] || fail "no operation of the window is highlighted"
  [[ $(occurrences "$dom" '<button class="jump"') -eq $highlighted ]] || fail "the window list is not the window"
  expect_in "$dom" 'id="prefix-line"'
  expect_in "$dom" 'longest linearizable prefix: '
  [[ $(matches "$dom" 'class="op prefix') -gt 0 ]] || fail "no operation is styled as in the prefix"
  local drawn_lanes
  drawn_lanes=$(occurrences "$dom" '<div class="lane" ')
  [[ $drawn_lanes -gt 0 ]] || fail "no lane"
  if [[ $lanes -gt 0 ]]; then
    [[ $drawn_lanes -eq $lanes ]] || fail "$drawn_lanes lanes, not $lanes"
  fi
  echo "rendered: $bars operations in $drawn_lanes lanes, $highlighted highlighted, the prefix line"

  chromium_run --screenshot="$png" --window-size=1400,800 "file://$page" >/dev/null ||
    fail "chromium --screenshot failed (see $out/chromium.log)"
  [[ -f $png ]] || fail "no screenshot at $png"
  [[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$png is not a PNG"
  local size
  size=$(wc -c <"$png")
  # A blank 1400x800 page compresses to a few kB; a drawn timeline is tens.
  [[ $size -gt 30000 ]] || fail "$png is $size bytes: nothing much was drawn"
  echo "screenshot: $png ($size bytes)"
}

if [[ $mode == lincheck ]]; then
  lincheck=$2 history=$3
  page=$out/timeline.html
  status=0
  "$lincheck" --model=kv --html="$page" "$history" >"$out/lincheck.txt" 2>&1 || status=$?
  cat "$out/lincheck.txt"
  [[ $status -eq 1 ]] || fail "lincheck exited $status, not 1 (NOT linearizable)"
  expect_in "$out/lincheck.txt" "timeline: $page"
  check_page "$page" 9 5
  dom=$out/$mode.dom.html
  # Every operation's label, as text: the history's <, > and & escaped.
  for label in \
    '<span class="cmd">:put "1"</span>' \
    '<span class="out">:ok "1"</span>' \
    '<span class="cmd">:append "&lt;b&gt;2&lt;/b&gt;"</span>' \
    '<span class="cmd">:append "&amp;amp;3"</span>' \
    '<span class="out">:info :timed-out</span>' \
    '<span class="cmd">:put "&lt;/script&gt;&lt;i&gt;4&lt;/i&gt;"</span>' \
    '<span class="cmd">:append "'"'"'5'"'"'"</span>' \
    '<span class="out">:ok "1&lt;b&gt;2&lt;/b&gt;"</span>' \
    '<span class="out">:ok "1&lt;b&gt;2&lt;/b&gt;&amp;amp;3"</span>' \
    '<span class="out">:ok "&lt;/script&gt;&lt;i&gt;4&lt;/i&gt;'"'"'5'"'"'"</span>'; do
    expect_in "$dom" "$label"
  done
  [[ $(occurrences "$dom" '<span class="cmd">:get nil</span>') -eq 4 ]] || fail "not 4 gets drawn"
  for lane in 0 1 2 3 4; do expect_in "$dom" ">process $lane</div>"; done
  # The window: process 2's stale get and process 0's last get, not in the
  # prefix, each after its last operation in the prefix.
  [[ $(matches "$dom" 'class="op unplaced window') -eq 2 ]] || fail "not 2 unplaced operations in the window"
  [[ $(matches "$dom" 'class="op prefix window') -eq 2 ]] || fail "not 2 placed operations in the window"
  expect_in "$dom" 'longest linearizable prefix: 7 of 9 operations'
  # No text of the history became markup.
  expect_not_in "$dom" '<b>2</b>'
  expect_not_in "$dom" '<i>4</i>'
  expect_in "$dom" "<title>$history, key \"&lt;k&amp;\"1\"&gt;\": NOT linearizable (kv)</title>"
else
  check_page "$2" 0 0
fi
echo "PASS"
