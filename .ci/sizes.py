#!/usr/bin/env python3
"""Lists the Rust source files over 500 lines and the functions over 70
lines, outside tests, benches and fuzz targets: the house's norm
(docs/architecture.md, "Sizes"). A report, not a gate: an exception stays
when docs/architecture.md names why.

    python3 .ci/sizes.py          # from the repository root
"""
import os
import re
import sys

FILE_MAX, FN_MAX = 500, 70
SKIP_DIRS = {"target", ".git", "tests", "benches", "fuzz"}
FN = re.compile(r"\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")


def source_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS]
        for f in files:
            if f.endswith(".rs") and not f.endswith("tests.rs"):
                yield os.path.join(d, f)


def code_lines(path):
    """The lines before a file's `#[cfg(test)]` module."""
    lines = open(path, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", line):
            return lines[:i]
    return lines


def long_functions(lines):
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            started = started or "{" in lines[j]
            if (started and depth <= 0) or (not started and lines[j].rstrip().endswith(";")):
                break
            j += 1
        if j - i + 1 > FN_MAX:
            yield m.group(6), j - i + 1
        i = j + 1


def main():
    found = 0
    for path in sorted(source_files(".")):
        lines = code_lines(path)
        if len(lines) > FILE_MAX:
            print(f"{path[2:]}: {len(lines)} lines (over {FILE_MAX})")
            found += 1
        for name, n in long_functions(lines):
            print(f"{path[2:]}: fn {name} {n} lines (over {FN_MAX})")
            found += 1
    print(f"{found} over the norm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
