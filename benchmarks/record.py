"""docs/benchmarks.md holds one section per benchmark script, so that a full
run of one script rewrites its own figures and keeps the others' (each
section says which run and which day it comes from)."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_MD = os.path.join(ROOT, "docs", "benchmarks.md")


def _marks(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def sections_of(text: str) -> dict[str, str]:
    """The marked sections of ``text``, by name, marks included."""
    found = re.finditer(r"<!-- (\S+): begin -->.*?<!-- \1: end -->", text, re.S)
    return {m.group(1): m.group(0) for m in found}


def record(name: str, body: str, path: str = BENCHMARKS_MD) -> None:
    """Write ``body`` as section ``name`` of ``path``: in place of the old
    one, else appended; the other sections stay as they are."""
    begin, end = _marks(name)
    section = f"{begin}\n{body.strip()}\n{end}"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    old = sections_of(text).get(name)
    text = text.replace(old, section) if old else text.rstrip() + ("\n\n" if text else "") + section
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.rstrip() + "\n")


def rewrite(path: str, text: str) -> None:
    """Write ``text`` to ``path``, followed by the marked sections the file
    held (another script's figures outlive this script's full run)."""
    try:
        with open(path, encoding="utf-8") as f:
            kept = sections_of(f.read())
    except FileNotFoundError:
        kept = {}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join([text.rstrip(), *kept.values()]) + "\n")
