"""Google Benchmark JSON files, for scripts/compare-bench and scripts/plot-bench.

One place reads and checks result files, so that a missing, truncated or
empty file is one clear message (BenchError) in every tool instead of a
traceback, and one place runs compare.py's U test.
"""

import json
import os
import re
import statistics
import subprocess
import tempfile

COMPARE = "/usr/share/benchmark/compare.py"
# Debian's python, with python3-scipy (compare.py's U test) and
# python3-matplotlib (plot-bench): not whatever `python3` is first on PATH.
PYTHON = "/usr/bin/python3"


class BenchError(Exception):
    """A result file that cannot be used; str() is the message for the user."""


def load(path):
    """The JSON document at `path`, checked to hold at least one benchmark."""
    if not os.path.isfile(path):
        raise BenchError(f"no such file: {path}")
    try:
        with open(path) as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise BenchError(f"{path}: not JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                         "expected zap_bench --benchmark_out=FILE --benchmark_out_format=json")
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"{path}: cannot read: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise BenchError(f"{path}: not a Google Benchmark result file (no \"benchmarks\" list)")
    if not doc["benchmarks"]:
        raise BenchError(f"{path}: holds no benchmarks (did the filter match nothing?)")
    for i, b in enumerate(doc["benchmarks"]):
        if not isinstance(b, dict) or "name" not in b:
            raise BenchError(f"{path}: benchmark #{i} has no name")
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue  # aggregates (BigO, RMS) carry other fields
        if not all(k in b for k in ("real_time", "cpu_time", "time_unit")):
            raise BenchError(f"{path}: benchmark {b['name']} has no real_time, cpu_time or time_unit")
    return doc


def iterations(doc):
    """The per-repetition rows (no aggregates)."""
    return [b for b in doc["benchmarks"] if b.get("run_type", "iteration") == "iteration"]


def _aggregate(rows, name, fn):
    out = dict(rows[0])
    out.pop("repetition_index", None)
    out.update(run_type="aggregate", aggregate_name=name, aggregate_unit="time",
               name=rows[0]["run_name"] + "_" + name, iterations=len(rows))
    for key in ("real_time", "cpu_time", "items_per_second"):
        if key in rows[0]:
            out[key] = fn([r[key] for r in rows])
    return out


def merge_runs(docs):
    """One result document from several runs of one binary, each with
    --benchmark_repetitions=1: run i becomes repetition i, and the mean,
    median and stddev aggregates are added as Google Benchmark writes them."""
    merged = {"context": dict(docs[0].get("context", {})), "benchmarks": []}
    by_name = {}
    for i, doc in enumerate(docs):
        for b in iterations(doc):
            row = dict(b, repetitions=len(docs), repetition_index=i)
            row.setdefault("run_name", b["name"])
            by_name.setdefault(row["run_name"], []).append(row)
    for rows in by_name.values():
        merged["benchmarks"] += rows
        ok = [r for r in rows if not r.get("error_occurred")]
        if len(ok) >= 2:
            merged["benchmarks"] += [_aggregate(ok, "mean", statistics.mean),
                                     _aggregate(ok, "median", statistics.median),
                                     _aggregate(ok, "stddev", statistics.stdev)]
    return merged


def errors(doc):
    """{name: message} of the benchmarks that stopped with an error."""
    out = {}
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            out.setdefault(b["name"], b.get("error_message", ""))
    return out


def run_compare(base_path, new_path, alpha, display_args=(), quiet=False, keep=None):
    """Runs compare.py on the two files (printing its report unless quiet)
    and returns its machine-readable report: per benchmark the paired
    repetitions and the U test. With keep, the report is also left in that
    file (load_report reads it back). Raises BenchError if compare.py fails."""
    if not os.path.isfile(COMPARE):
        raise BenchError(f"{COMPARE} missing (Debian package libbenchmark-tools)")
    with tempfile.TemporaryDirectory(prefix="bench_json.") as tmp:
        dump = keep or os.path.join(tmp, "diff.json")
        cmd = [PYTHON, COMPARE, *display_args, "--alpha", str(alpha), "-d", dump,
               "benchmarks", base_path, new_path]
        rc = subprocess.call(cmd, stdout=subprocess.DEVNULL if quiet else None)
        if rc != 0 or not os.path.isfile(dump):
            raise BenchError(f"compare.py exited with {rc}")
        return load_report(dump)


def load_report(path):
    """A report run_compare kept; BenchError if it is not one."""
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise BenchError(f"{path}: not a compare.py report ({e})") from None
    if not isinstance(report, list) or not all(isinstance(b, dict) and "measurements" in b for b in report):
        raise BenchError(f"{path}: not a compare.py report (expected its -d dump: a list of benchmarks)")
    return report


def changes(report):
    """(name, base median, new median, change in percent, U test p) per
    benchmark that had a U test, from run_compare's report; times in the
    benchmark's time unit."""
    out = []
    for b in report:
        u = b.get("utest") or {}
        if u.get("time_pvalue") is None:
            continue
        ms = b["measurements"]
        base = statistics.median(m["real_time"] for m in ms)
        new = statistics.median(m["real_time_other"] for m in ms)
        if base > 0:
            out.append((b["name"], base, new, (new - base) / base * 100.0, u["time_pvalue"],
                        u.get("have_optimal_repetitions", False)))
    return out


_NAME = re.compile(r"^BM_(?P<scenario>\w+)/(?P<side>impl|model|kernel)/(?:pages:)?(?P<size>\d+)(?P<rest>(/[^/]+)*)$")


def parse_name(name):
    """(scenario, side, size) of a zap_bench name such as
    BM_ZapDense/impl/512/manual_time or BM_ZapConcurrent/impl/pages:512/readers:2/...;
    None for other names. Arguments after the size become part of the
    scenario (readers:2 is its own line), except Google Benchmark's own
    (manual_time, min_time:..., iterations:...)."""
    m = _NAME.match(name)
    if not m:
        return None
    extra = [p for p in m.group("rest").split("/")
             if p and p not in ("manual_time", "real_time") and not p.startswith(("min_time:", "iterations:"))]
    scenario = m.group("scenario") + "".join("/" + p for p in extra)
    return scenario, m.group("side"), int(m.group("size"))


def ns_per_page(row):
    """Nanoseconds per page of a row with items_per_second; None without."""
    ips = row.get("items_per_second")
    return 1e9 / ips if ips else None
