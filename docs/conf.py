"""Sphinx configuration: the reference documentation (docs/reference/).

Only the reference is built with Sphinx; the guides are Markdown pages read
as they are. ``tests/test_reference_docs.py`` builds it with warnings as
errors, so a public name without documentation, or a docstring Sphinx cannot
read, fails the tests. Build it by hand with::

    .venv/bin/sphinx-build -W -b html docs build/docs   # build/docs/reference/index.html
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

project = "mistral-action-host"
root_doc = "reference/index"
extensions = ["sphinx.ext.autodoc"]
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["**/*.md"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
html_theme = "alabaster"
html_static_path: list[str] = []
# The Markdown guides beside the reference are not Sphinx sources.
suppress_warnings = ["toc.not_readable"]
nitpicky = False


class CliHelp(Directive):
    """``.. cli-help::``: the ``--help`` of ``action-executor`` and of every
    sub-command, taken from the parser itself."""

    def run(self) -> list[Any]:
        from executor.cli import build_parser

        out: list[Any] = []

        def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
            title = " ".join(["action-executor", *path])
            section = nodes.section(
                ids=[nodes.make_id(title)], names=[nodes.fully_normalize_name(title)]
            )
            section += nodes.title(text=title)
            block = nodes.literal_block(text=parser.format_help())
            block["language"] = "none"
            section += block
            out.append(section)
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, sub in action.choices.items():
                        walk(sub, [*path, name])

        os.environ["COLUMNS"] = "100"  # the same text on every terminal
        walk(build_parser(), [])
        return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def literal_blocks(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """The docstrings here are written to be read as plain text: an indented
    block after a line ending in ``:`` is code. Make it a literal block."""
    for i in range(len(lines) - 2):
        line = lines[i].rstrip()
        if (
            line.endswith(":")
            and not line.endswith("::")
            and not lines[i + 1].strip()
            and lines[i + 2].strip()
            and _indent(lines[i + 2]) > _indent(lines[i])
        ):
            lines[i] = line + ":"


def field_docs(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """A dataclass whose fields carry their documentation in their metadata
    (``ExecutorConfig``): that documentation, as the constructor's parameters
    (Sphinx reads no field metadata by itself)."""
    if what != "class" or not dataclasses.is_dataclass(obj):
        return
    documented = [f for f in dataclasses.fields(obj) if "doc" in f.metadata]
    if documented and lines and lines[-1]:
        lines.append("")
    lines += [f":param {f.name}: {f.metadata['doc']}" for f in documented]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("cli-help", CliHelp)
    app.connect("autodoc-process-docstring", literal_blocks)
    app.connect("autodoc-process-docstring", field_docs)
    return {"parallel_read_safe": True}
