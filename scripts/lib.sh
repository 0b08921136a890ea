# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.

# run_stage NAME LOG CMD...: runs CMD with its output in LOG, records the
# result for print_summary, and returns CMD's exit status.
MMV_STAGES=()
run_stage() {
  local name="$1" log="$2"
  shift 2
  local start=$SECONDS status=0
  echo "== $name"
  "$@" >"$log" 2>&1 || status=$?
  local secs=$((SECONDS - start))
  if [ "$status" -eq 0 ]; then
    MMV_STAGES+=("PASS  $name (${secs}s)")
  else
    MMV_STAGES+=("FAIL  $name (${secs}s, exit $status): see $log")
    tail -n 40 "$log" >&2
  fi
  return "$status"
}

# ctest_totals LOG: "N tests, M failed" from a ctest log's summary line.
ctest_totals() {
  sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 tests, \1 failed/p' "$1" | tail -n 1
}
