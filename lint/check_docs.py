#!/usr/bin/python3
"""The manual's checks (ctest label lint; lint/check.sh calls them).

  check_docs.py links             every relative link in the project's Markdown
                                  (README.md, docs/, regressions/README.md, ...)
                                  names a file or folder of the checkout, and
                                  every #anchor a heading of the page it names
  check_docs.py outputs BUILD_DIR every build output that a fenced command of
                                  README.md or docs/ names (build/<preset>/X)
                                  exists in BUILD_DIR, and every script it
                                  names (scripts/X, bench/X.sh) exists
  check_docs.py help BUILD_DIR    every tool (each executable of scripts/ and
                                  bench/*.sh, each add_executable of the CMake
                                  files) prints a --help that names its page of
                                  docs/, and that page exists

Each failure is one line naming the file and line; exit status 1 when any.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)")
CODESPAN = re.compile(r"`+[^`]*`+")
# Programs that are not commands for users: a child program of a test. The
# libFuzzer targets (fuzz/CMakeLists.txt) are not either: the engine owns
# their flags (-help=1).
NOT_TOOLS = {"race_demo"}
# Build folders that are no preset's build tree (outputs of scripts).
NOT_PRESETS = {"compare", "verify", "explore", "junit", "coverage-report", "fault-report", "corpus",
               "lincheck-alone"}


def git_files():
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        return [f for f in out.splitlines() if os.path.exists(os.path.join(ROOT, f))]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, subdirs, names in os.walk(ROOT):
            subdirs[:] = [s for s in subdirs if s not in (".git", "build", "node_modules")]
            files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
        return files


def markdown_files():
    return sorted(f for f in git_files() if f.endswith(".md") and "node_modules/" not in f)


def manual_files():
    return [f for f in markdown_files() if f == "README.md" or f.startswith("docs/")]


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def lines(path, fenced):
    """(line number, text) of the lines inside fenced blocks, or outside them."""
    inside = False
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                inside = not inside
            elif inside == fenced:
                yield n, line


def anchors(path):
    seen = {}
    result = set()
    for _, line in lines(path, fenced=False):
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links():
    problems, checked = [], 0
    cache = {}
    for md in markdown_files():
        for n, line in lines(md, fenced=False):
            text = CODESPAN.sub("", line)
            targets = [m.group(1) for m in LINK.finditer(text)] + [m.group(1) for m in IMAGE.finditer(text)]
            m = REFDEF.match(text)
            if m:
                targets.append(m.group(1))
            for target in targets:
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
                    continue
                checked += 1
                where = f"{md}:{n}: link '{target}'"
                path, _, anchor = target.partition("#")
                if path:
                    full = os.path.normpath(os.path.join(ROOT, os.path.dirname(md), path))
                    if not full.startswith(ROOT + os.sep) and full != ROOT:
                        problems.append(f"{where} leaves the checkout")
                        continue
                    if not os.path.exists(full):
                        problems.append(f"{where}: no such file")
                        continue
                    page = os.path.relpath(full, ROOT)
                else:
                    page = md
                if anchor:
                    if not page.endswith(".md"):
                        problems.append(f"{where}: an anchor on a file that is not Markdown")
                        continue
                    if page not in cache:
                        cache[page] = anchors(page)
                    if anchor not in cache[page]:
                        problems.append(f"{where}: {page} has no heading '#{anchor}'")
    return problems, f"{checked} relative links in {len(markdown_files())} Markdown files"


def presets():
    with open(os.path.join(ROOT, "CMakePresets.json"), encoding="utf-8") as f:
        data = json.load(f)
    return {p["name"] for p in data["configurePresets"] if not p.get("hidden")}


def fuzz_targets():
    with open(os.path.join(ROOT, "fuzz", "CMakeLists.txt"), encoding="utf-8") as f:
        return set(re.findall(r"add_executable\((\w+)", f.read()))


def outputs(build_dir):
    problems, checked = [], 0
    names = presets()
    fuzz = fuzz_targets()
    for md in manual_files():
        for n, line in lines(md, fenced=True):
            for m in re.finditer(r"(?<![\w/.-])build/([\w.-]+)/([\w./-]+)", line):
                preset, rest = m.group(1), m.group(2).rstrip(".")
                if preset in NOT_PRESETS:
                    continue
                where = f"{md}:{n}: '{m.group(0)}'"
                if preset not in names:
                    problems.append(f"{where}: no preset '{preset}' in CMakePresets.json")
                    continue
                checked += 1
                if preset == "fuzz":  # built only with MMV_FUZZ: the target must be declared
                    if os.path.basename(rest) not in fuzz:
                        problems.append(f"{where}: fuzz/CMakeLists.txt declares no target '{os.path.basename(rest)}'")
                elif not os.path.exists(os.path.join(build_dir, rest)):
                    problems.append(f"{where}: the default build has no {rest}")
            for m in re.finditer(r"(?<![\w/.-])((?:scripts|bench|lint)/[\w.-]+)", line):
                checked += 1
                if not os.path.exists(os.path.join(ROOT, m.group(1))):
                    problems.append(f"{md}:{n}: '{m.group(1)}': no such file")
    return problems, f"{checked} build outputs and scripts named in fenced blocks of README.md and docs/"


def tools(build_dir):
    """(name, argv) of every tool: the executable scripts and the CMake executables."""
    found = []
    not_tools = NOT_TOOLS | fuzz_targets()
    for f in sorted(git_files()):
        full = os.path.join(ROOT, f)
        is_script = (f.startswith("scripts/") and "/" not in f[len("scripts/"):]) or \
                    (f.startswith("bench/") and f.endswith(".sh") and not f.endswith("_test.sh"))
        if is_script and os.access(full, os.X_OK):
            found.append((f, [full, "--help"]))
        if os.path.basename(f) == "CMakeLists.txt":
            with open(full, encoding="utf-8") as cm:
                for name in re.findall(r"add_executable\((\w+)\s", cm.read()):
                    if name in not_tools:
                        continue
                    binary = os.path.join(build_dir, os.path.dirname(f), name)
                    found.append((f"{os.path.dirname(f)}/{name}", [binary, "--help"]))
    return found


def help_pages(build_dir):
    problems = []
    found = tools(build_dir)
    for name, argv in found:
        if not os.path.exists(argv[0]):
            if name.startswith("stress/fault_report"):  # built only with the fault switch (not release)
                continue
            problems.append(f"{name}: not built in {build_dir}")
            continue
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        text = run.stdout + run.stderr
        if run.returncode != 0:
            problems.append(f"{name} --help: exit status {run.returncode}, not 0")
        pages = re.findall(r"\bdocs/[\w-]+\.md\b", text)
        if not pages:
            problems.append(f"{name} --help names no page of docs/ (want 'Manual: docs/PAGE.md')")
        for page in pages:
            if not os.path.isfile(os.path.join(ROOT, page)):
                problems.append(f"{name} --help names {page}, which does not exist")
    return problems, f"{len(found)} tools' --help"


def main():
    usage = "usage: lint/check_docs.py links | outputs BUILD_DIR | help BUILD_DIR"
    if len(sys.argv) < 2 or sys.argv[1] not in ("links", "outputs", "help") or \
            (sys.argv[1] == "links") != (len(sys.argv) == 2) or len(sys.argv) > 3:
        print(usage, file=sys.stderr)
        return 2
    if sys.argv[1] == "links":
        problems, what = links()
    else:
        build_dir = os.path.abspath(sys.argv[2])
        if not os.path.isdir(build_dir):
            print(f"check_docs: no build directory {build_dir}", file=sys.stderr)
            return 2
        problems, what = (outputs if sys.argv[1] == "outputs" else help_pages)(build_dir)
    for p in problems:
        print(f"lint: {p}")
    print(f"{sys.argv[1]}: {what}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
