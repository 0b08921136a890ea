#!/usr/bin/env bash
# The quick zap benchmark that scripts/verify runs (under a minute): builds
# zap_bench in the release preset, runs a few scenarios with a short min time,
# writes the JSON to build/verify/bench.json (or $1) and its plot beside it
# (bench.png: scripts/plot-bench), and ends with one line per scenario:
#
#   zap <scenario>: impl X Mpages/s, model Y, kernel Z; impl/kernel = R1, impl/model = R2
#
# X, Y, Z are items_per_second (4 KiB pages zapped per second of zap time);
# a ratio above 1 means the impl zaps faster. Quick numbers are noisy (short
# runs, a shared machine): for decisions use a comparison run
# (docs/benchmarks.md).
# Usage: bench/quick.sh [OUT.json]; ZAP_BENCH=path/to/zap_bench skips the
# build and runs that binary.
# Exit status: non-zero if the build or the run failed, or a row is missing
# or stopped with an error (zap_bench reports lost file data that way).
# Manual: docs/benchmarks.md (the quick run in scripts/verify).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

out="${1:-build/verify/bench.json}"
mkdir -p "$(dirname "$out")"

bin="${ZAP_BENCH:-}"  # a zap_bench binary to use instead of building one
if [ -z "$bin" ]; then
  echo "== build: release preset, zap_bench"
  cmake --preset release >/dev/null
  cmake --build --preset release --target zap_bench -j "$(nproc)"
  bin=build/release/bench/zap_bench
fi

# dense 512 and 65536 pages, the 1 TiB sparse range, 4096 dirty file pages,
# 32 whole THPs.
filter='^BM_Zap(Dense/[a-z]+/(512|65536)|Sparse/[a-z]+/1024|FileDirty/[a-z]+/4096|ThpWhole/[a-z]+/32)/'
echo "== run: zap_bench --benchmark_filter='$filter' --benchmark_min_time=0.05"
"$bin" --benchmark_filter="$filter" --benchmark_min_time=0.05 \
  --benchmark_out="$out" --benchmark_out_format=json

echo "== plot"
scripts/plot-bench "$out" -o "${out%.json}.png"

echo "== summary ($out)"
/usr/bin/python3 - "$out" <<'EOF'
import json, re, sys

rows, errors, failed = {}, [], set()
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("run_type", "iteration") != "iteration":
        continue
    m = re.match(r"BM_Zap(\w+)/(impl|model|kernel)/(\d+)(/|$)", b["name"])
    if not m:
        continue
    key = (m.group(1), m.group(3), m.group(2))
    if b.get("error_occurred"):
        errors.append(f'{b["name"]}: {b.get("error_message", "")}')
        failed.add(key)
        continue
    rows[key] = b.get("items_per_second", 0.0)

scenarios = [
    ("Dense", "512", "dense 512 pages"),
    ("Dense", "65536", "dense 65536 pages"),
    ("Sparse", "1024", "sparse 1 TiB, 2 pages"),
    ("FileDirty", "4096", "file dirty 4096 pages"),
    ("ThpWhole", "32", "THP whole 32 x 2 MiB"),
]

def mps(v):
    x = v / 1e6
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"

missing = 0
for fam, arg, label in scenarios:
    got = {s: rows.get((fam, arg, s)) for s in ("impl", "model", "kernel")}
    if None in got.values():
        missing += 1
        print(f"zap {label}: " + ", ".join(
            f"{s} {'ERROR' if (fam, arg, s) in failed else 'MISSING'}" for s, v in got.items() if v is None))
        continue
    i, m, k = got["impl"], got["model"], got["kernel"]
    print(f"zap {label}: impl {mps(i)} Mpages/s, model {mps(m)}, kernel {mps(k)}; "
          f"impl/kernel = {ratio(i, k)}, impl/model = {ratio(i, m)}")
for e in errors:
    print(f"zap ERROR {e}")
sys.exit(1 if errors or missing else 0)
EOF
