#!/usr/bin/env bash
# ctest compare_bench.cli (label scripts): scripts/compare-bench and
# scripts/plot-bench on made-up result files: each verdict's exit status and
# line, and a clear message with exit 2 for every kind of bad input.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect STATUS PATTERN CMD...: CMD exits with STATUS and prints PATTERN.
expect() {
  local want="$1" pattern="$2" got=0
  shift 2
  "$@" >"$tmp/out" 2>&1 || got=$?
  if [ "$got" -ne "$want" ] || ! grep -qE -- "$pattern" "$tmp/out"; then
    echo "FAIL: \`$*\` exited $got (want $want), output (want /$pattern/):"
    sed 's/^/    /' "$tmp/out"
    failures=$((failures + 1))
  else
    echo "ok:   \`$*\` -> $got, /$pattern/"
  fi
}

# results NAME SCALE: 9 repetitions of two benchmarks, BM_ZapDense/impl/512
# times SCALE, with a little deterministic spread.
results() {
  /usr/bin/python3 - "$tmp/$1.json" "$2" <<'PY'
import json, sys
out, scale = sys.argv[1], float(sys.argv[2])
rows = []
for name, ns in (("BM_ZapDense/impl/512/manual_time", 5000.0), ("BM_ZapDense/kernel/512/manual_time", 90000.0)):
    for i in range(9):
        t = ns * (1 + 0.01 * ((i * 7) % 5)) * (scale if "/impl/" in name else 1.0)
        rows.append({"name": name, "run_name": name, "run_type": "iteration", "repetitions": 9,
                     "repetition_index": i, "iterations": 100, "real_time": t, "cpu_time": t,
                     "time_unit": "ns", "items_per_second": 512 / t * 1e9})
json.dump({"context": {}, "benchmarks": rows}, open(out, "w"))
PY
}

results base 1.0
results same 1.0
results slower 1.5
results faster 0.6
echo '{"benchmarks": [' >"$tmp/truncated.json"
echo '{"context": {}}' >"$tmp/nobench.json"
echo '{"context": {}, "benchmarks": []}' >"$tmp/empty.json"
echo '[1, 2]' >"$tmp/list.json"

cb=scripts/compare-bench
expect 0 'compare-bench: OK: none of 2 benchmarks' $cb "$tmp/base.json" "$tmp/same.json"
expect 1 'SLOWER  BM_ZapDense/impl/512/manual_time: median time \+50' $cb "$tmp/base.json" "$tmp/slower.json"
expect 0 'faster  BM_ZapDense/impl/512/manual_time: median time -40' $cb "$tmp/base.json" "$tmp/faster.json"
expect 0 'OK' $cb "$tmp/base.json" "$tmp/slower.json" --threshold 60
expect 2 'no such file: .*missing.json' $cb "$tmp/base.json" "$tmp/missing.json"
expect 2 'truncated.json: not JSON' $cb "$tmp/base.json" "$tmp/truncated.json"
expect 2 'nobench.json: not a Google Benchmark result file' $cb "$tmp/nobench.json" "$tmp/base.json"
expect 2 'empty.json: holds no benchmarks' $cb "$tmp/base.json" "$tmp/empty.json"
expect 2 'list.json: not a Google Benchmark result file' $cb "$tmp/base.json" "$tmp/list.json"
expect 2 'give two result files, or --base REV' $cb "$tmp/base.json"
expect 2 'give no result files with it' $cb --base HEAD "$tmp/base.json" "$tmp/same.json"
expect 2 '--repetitions must be at least 2' $cb --base HEAD --repetitions 1
expect 2 'go with --base' $cb "$tmp/base.json" "$tmp/same.json" --filter x
expect 2 'not a commit in this repository' $cb --base no-such-rev-e3b0c442 --out-dir "$tmp/compare"
expect 2 'invalid float value' $cb "$tmp/base.json" "$tmp/same.json" --threshold abc
expect 0 'table: .*t.md' $cb "$tmp/base.json" "$tmp/faster.json" --summary "$tmp/t.md"
# shellcheck disable=SC2016  # the backquotes are Markdown's
if ! grep -qF '| `BM_ZapDense/impl/512/manual_time` | ' "$tmp/t.md"; then
  echo "FAIL: the summary table has no row for BM_ZapDense/impl/512"; failures=$((failures + 1))
fi

# --base's merge: single-repetition runs become one file with repetitions
# and aggregates that compare.py takes.
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
sys.path.insert(0, "scripts")
import bench_json
tmp = sys.argv[1]
for side in ("base", "slower"):
    doc = bench_json.load(f"{tmp}/{side}.json")
    runs = [{"context": {}, "benchmarks": [dict(b, repetitions=1, repetition_index=0)
                                           for b in doc["benchmarks"] if b["repetition_index"] == i]}
            for i in range(9)]
    json.dump(bench_json.merge_runs(runs), open(f"{tmp}/merged-{side}.json", "w"))
PY
expect 1 'SLOWER  BM_ZapDense/impl/512/manual_time: median time \+50.*p = 0.000' \
  $cb "$tmp/merged-base.json" "$tmp/merged-slower.json"
if ! grep -q 'manual_time_median' "$tmp/out"; then
  echo "FAIL: compare.py printed no median aggregate for the merged files"; failures=$((failures + 1))
fi

pb=scripts/plot-bench
expect 0 'wrote .*one.png' $pb "$tmp/base.json" -o "$tmp/one.png"
expect 0 'wrote .*two.png' $pb "$tmp/slower.json" "$tmp/base.json" -o "$tmp/two.png"
# compare-bench --plot keeps compare.py's report for plot-bench, which draws
# from it instead of running the U tests a second time.
expect 0 'plot-bench: wrote .*cmp.png' $cb "$tmp/base.json" "$tmp/faster.json" --plot "$tmp/cmp.png"
if ! /usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert isinstance(r, list) and r[0]["utest"]' \
    "$tmp/cmp.report.json" 2>/dev/null; then
  echo "FAIL: compare-bench --plot left no compare.py report in cmp.report.json"; failures=$((failures + 1))
fi
expect 0 'wrote .*three.png' $pb "$tmp/faster.json" "$tmp/base.json" -o "$tmp/three.png" --report "$tmp/cmp.report.json"
expect 2 'list.json: not a compare.py report' $pb "$tmp/faster.json" "$tmp/base.json" -o "$tmp/x.png" --report "$tmp/list.json"
expect 2 'truncated.json: not a compare.py report' $pb "$tmp/faster.json" "$tmp/base.json" -o "$tmp/x.png" --report "$tmp/truncated.json"
expect 2 'report goes with a base file' $pb "$tmp/faster.json" -o "$tmp/x.png" --report "$tmp/cmp.report.json"
for png in one two cmp three; do
  if ! head -c 8 "$tmp/$png.png" | grep -q PNG || [ "$(stat -c %s "$tmp/$png.png")" -lt 10000 ]; then
    echo "FAIL: $png.png is not a drawn PNG"; failures=$((failures + 1))
  fi
done
expect 2 'truncated.json: not JSON' $pb "$tmp/truncated.json" -o "$tmp/x.png"
expect 2 'no such file' $pb "$tmp/missing.json" -o "$tmp/x.png"
expect 2 'the following arguments are required: -o' $pb "$tmp/base.json"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
