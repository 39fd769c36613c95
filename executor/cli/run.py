"""``action-executor run``: run one action and print its Result."""

from __future__ import annotations

import argparse
from typing import Any

from executor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    make_executor,
    parse_context,
    parse_params,
)


def cmd_run(args: argparse.Namespace) -> int:
    params = parse_params(args.params, args.params_json)
    context = parse_context(args.context)
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    with make_executor(args) as executor:
        result = executor.run(
            args.action,
            params,
            context=context,
            timeout=args.timeout,
            dry_run=args.dry_run,
        )
    print(result.to_json())
    return EXIT_OK if result.is_success() else EXIT_FAILED


def add_run_parser(sub: Any) -> argparse.ArgumentParser:
    run = sub.add_parser(
        "run",
        help="run one action and print its Result as JSON",
        description="Run one action and print its Result as JSON on stdout; the "
        "action's logs go to stderr. Exit code 0: success, 1: the action failed, "
        "2: bad usage.",
        epilog="example: action-executor run std.echo output=hello delay=0.5",
    )
    run.add_argument("action", help="action name, e.g. std.echo")
    run.add_argument(
        "params",
        nargs="*",
        metavar="KEY=VALUE",
        help="a parameter; VALUE is parsed as JSON when it parses, else taken as a string",
    )
    run.add_argument(
        "--params",
        dest="params_json",
        metavar="JSON",
        help="parameters as a JSON object",
    )
    run.add_argument(
        "--context",
        metavar="JSON",
        help='action context: {"security": {...}, "execution": {...}}',
    )
    run.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="kill the action and everything it started after S seconds (default: no limit)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="call the action's test() instead of run()",
    )
    run.add_argument("--launcher", choices=["fork", "spawn"], help="how hosts are started")
    run.set_defaults(func=cmd_run)
    return run
