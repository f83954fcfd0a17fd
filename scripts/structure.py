#!/usr/bin/env python3
"""Issue 22's structural measures, read off the source tree.

Prints the Rust files over 800 lines, the functions over 80 lines (test
functions listed apart), and the scope/role checks written in keyward-web
(calls of `holds(` or `refused_without(`), so a refactor's before and
after can be compared by running this on both commits.

Usage: scripts/structure.py [ROOT]   (default: the repository root)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
FN = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(path):
    """(name, first line, length, is_test) of each fn, by brace matching."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        match = FN.match(line)
        if not match:
            continue
        depth, opened = 0, False
        for end in range(index, len(lines)):
            text = re.sub(r'"(\\.|[^"\\])*"', '""', lines[end].split("//")[0])
            depth += text.count("{") - text.count("}")
            opened = opened or "{" in text
            if text.rstrip().endswith(";") and not opened:
                break
            if opened and depth <= 0:
                before = "\n".join(lines[max(0, index - 3):index])
                test = "#[test]" in before or "tokio::test" in before or "/tests/" in str(path)
                found.append((match.group(7), index + 1, end - index + 1, test))
                break
    return found


def main():
    files = sorted(p for p in (ROOT / "crates").rglob("*.rs") if "target" not in p.parts)
    long_files = [(len(p.read_text(encoding="utf-8").splitlines()), p) for p in files]
    long_files = sorted((n, p) for n, p in long_files if n > 800)
    print(f"files over 800 lines: {len(long_files)}")
    for n, p in reversed(long_files):
        print(f"  {n:5} {p.relative_to(ROOT)}")
    long_fns = [(length, p, name, line, test) for p in files for name, line, length, test in functions(p) if length > 80]
    for label, wanted in (("functions over 80 lines", False), ("test functions over 80 lines", True)):
        chosen = sorted((f for f in long_fns if f[4] == wanted), reverse=True)
        print(f"{label}: {len(chosen)}")
        for length, p, name, line, _ in chosen:
            print(f"  {length:5} {p.relative_to(ROOT)}:{line} {name}")
    web = [p for p in files if "keyward-web/src" in str(p)]
    checks = sum(len(re.findall(r"\.holds\(|refused_without\(", p.read_text(encoding="utf-8"))) for p in web)
    print(f"scope/role checks written in keyward-web/src: {checks}")


main()
