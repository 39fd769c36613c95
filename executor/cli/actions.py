"""``action-executor actions``: the actions the executor can run."""

from __future__ import annotations

import argparse
from typing import Any

from executor.cli.common import EXIT_OK, make_executor
from executor.cli.output import add_output_options, print_list

COLUMNS = ("name", "environment", "wins", "parameters", "description", "error")
#: What ``-f table`` shows when no ``-c`` is given (the error shows in "parameters").
TABLE_COLUMNS = ("name", "environment", "wins", "parameters", "description")


def action_rows(executor: Any, refresh: bool = False) -> list[dict[str, Any]]:
    """One row per (environment, action), with whether that environment runs
    the plain name: ``yes``; ``no`` (another one wins: call it ``ENV:NAME``);
    ``ambiguous`` (no one wins it: only ``ENV:NAME`` works)."""
    entries = executor.catalog.entries(refresh=refresh)
    winners: dict[str, str | None] = {}
    for _env, info in entries:
        if info.name not in winners:
            try:
                env, _ = executor.catalog.resolve(info.name)
                winners[info.name] = env.name
            except LookupError:
                winners[info.name] = None
    rows = []
    for env, info in entries:
        winner = winners.get(info.name)
        rows.append(
            {
                "name": info.name,
                "environment": env,
                "wins": "yes" if winner == env else ("no" if winner else "ambiguous"),
                "parameters": f"BROKEN: {info.error}" if info.error else f"({info.signature()})",
                "description": info.description,
                "error": info.error,
            }
        )
    return rows


def cmd_actions(args: argparse.Namespace) -> int:
    if args.json:  # the older spelling of -f json
        args.output_format = "json"
    # Not started: listing runs no action, so it needs no more of the sandbox
    # than an install's check (as the service's user from a shell, too).
    executor = make_executor(args)
    try:
        rows = action_rows(executor, args.refresh)
    finally:
        executor.close()
    if args.output_format == "table" and not args.columns:
        args.columns = list(TABLE_COLUMNS)
    print_list(COLUMNS, rows, args)
    return EXIT_OK


def add_actions_parser(sub: Any) -> argparse.ArgumentParser:
    actions: argparse.ArgumentParser = sub.add_parser(
        "actions",
        help="list the available actions with their parameters",
        description="List the actions the executor can run, with their parameters. "
        "WINS says whether that environment runs the plain NAME: 'no' means another "
        "environment wins it (run this one as ENV:NAME), 'ambiguous' that only "
        "ENV:NAME works.",
        epilog="example: action-executor actions -f value -c name",
    )
    add_output_options(actions, COLUMNS)
    actions.add_argument("--json", action="store_true", help="same as -f json")
    actions.add_argument("--refresh", action="store_true", help="re-scan the environments")
    actions.set_defaults(func=cmd_actions)
    return actions
