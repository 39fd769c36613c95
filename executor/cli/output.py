"""``-f table|json|yaml|value`` and ``-c COLUMN`` for list and show commands.

The same options, with the same meaning, as the OpenStack command-line
clients (cliff's ``Lister`` and ``ShowOne``), so that scripts written for
those read ours the same way:

* ``-f json`` / ``-f yaml``: a list of objects (list commands) or one object
  (show commands), keyed by column name;
* ``-f value``: the values only, space-separated, one row per line (list
  commands) or one field per line (show commands), no header: for ``$(...)``;
* ``-c COLUMN`` (repeatable): only these columns, in this order (the name
  in any case: as ``-f json`` keys it or as the table's header prints it).

cliff itself is not used: it would bring its own command framework (and
cmd2, with its interactive shell) to replace argparse sub-commands that
already work, for the sake of these two options.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from executor.cli.common import UsageError

FORMATS = ("table", "json", "yaml", "value")

#: Renders one field of a show command for ``-f table``: a line, or lines.
Display = Callable[[Any], "str | list[str]"]


def add_output_options(parser: argparse.ArgumentParser, columns: Sequence[str]) -> None:
    """Add ``-f`` and ``-c`` (the choices of ``-c`` are listed in the help)."""
    group = parser.add_argument_group("output formatters")
    group.add_argument(
        "-f",
        "--format",
        dest="output_format",
        choices=FORMATS,
        default="table",
        help="output format (default: table)",
    )
    group.add_argument(
        "-c",
        "--column",
        dest="columns",
        action="append",
        default=[],
        metavar="COLUMN",
        help=f"show only this column (repeatable): {', '.join(columns)}",
    )


def select(columns: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The columns ``-c`` asked for, in its order; all when none was given.

    A name is matched case-insensitively, so the table's header (``-c
    AVAILABLE``) works as well as the name in ``-f json`` (``-c available``).
    """
    if not wanted:
        return list(columns)
    by_name = {c.lower(): c for c in columns}
    unknown = [c for c in wanted if c.lower() not in by_name]
    if unknown:
        raise UsageError(f"unknown column {unknown[0]!r} for -c; choose from: {', '.join(columns)}")
    return [by_name[c.lower()] for c in wanted]


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2)
    import yaml  # PyYAML: the executor extra

    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False)).rstrip("\n")


def print_list(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    args: argparse.Namespace,
    *,
    empty: str = "",
) -> None:
    """Print rows (dicts keyed by column) as ``args.output_format`` asks."""
    shown = select(columns, args.columns)
    fmt = args.output_format
    if fmt in ("json", "yaml"):
        print(_dump([{c: row.get(c) for c in shown} for row in rows], fmt))
        return
    if fmt == "value":
        for row in rows:
            print(" ".join(_scalar(row.get(c)) for c in shown))
        return
    if not rows and empty:
        print(empty, file=sys.stderr)
        return
    cells = [[_scalar(row.get(c)) for c in shown] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(shown)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    print(line([c.upper() for c in shown]))
    for r in cells:
        print(line(r))


def print_show(
    fields: Mapping[str, Any],
    args: argparse.Namespace,
    display: Mapping[str, Display] | None = None,
) -> None:
    """Print one object's fields as ``args.output_format`` asks.

    ``-f table`` prints ``field: value`` lines; a list field prints its
    count and then one item per line (``display`` renders an item).
    """
    shown = select(list(fields), args.columns)
    fmt = args.output_format
    if fmt in ("json", "yaml"):
        print(_dump({c: fields[c] for c in shown}, fmt))
        return
    if fmt == "value":
        for c in shown:
            value = fields[c]
            if isinstance(value, list):
                render = (display or {}).get(c, _scalar)
                for item in value:
                    print(render(item))
            else:
                print(_scalar(value))
        return
    width = max(len(c) for c in shown) + 2
    for c in shown:
        value = fields[c]
        if isinstance(value, list) and (display or {}).get(c):
            print(f"{c} ({len(value)}):")
            for item in value:
                rendered = display[c](item)  # type: ignore[index]
                for text in [rendered] if isinstance(rendered, str) else rendered:
                    print(f"  {text}")
        else:
            print(f"{(c + ':').ljust(width)}{_scalar(value) or '-'}")
