"""``action-executor run``: run one action and print its Result."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from executor.cli.common import (
    EXIT_CODES_HELP,
    UsageError,
    exit_code,
    make_executor,
    parse_context,
    parse_params,
)
from executor.result import json_default


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
        environment = _environment_of(executor, args.action)
    print(json.dumps(result_json(result, environment), indent=2, default=json_default))
    if result.is_success() and not result.is_sync:
        print(
            f"note: {args.action} is asynchronous: it started work whose result Mistral "
            "expects later (through its API); the data above is only what run() returned",
            file=sys.stderr,
        )
    return exit_code(result)


def _environment_of(executor: Any, action: str) -> str | None:
    """The environment that runs ``action`` (None when no environment does)."""
    try:
        env, _info = executor.catalog.resolve(action)
    except LookupError:
        return None
    return str(env.name)


def result_json(result: Any, environment: str | None) -> dict[str, Any]:
    """The Result as the CLI prints it: the API's field names (``timings`` in
    seconds, ``is_sync``), plus the environment that ran the action."""
    out: dict[str, Any] = {"action": result.action}
    if environment:
        out["environment"] = environment
    out["success"] = result.is_success()
    out["is_sync"] = result.is_sync
    if result.is_success():
        out["data"] = result.data
    else:
        out["error"] = result.error
        if result.error_type:
            out["error_type"] = str(result.error_type)
        if result.exception:
            out["exception"] = result.exception
    if result.cancel:
        out["cancel"] = True
    out["timings"] = {k: round(v, 6) for k, v in result.timings.items()}
    return out


def add_run_parser(sub: Any) -> argparse.ArgumentParser:
    run = sub.add_parser(
        "run",
        help="run one action and print its Result as JSON",
        description="Run one action and print its Result as JSON on stdout (with the "
        "environment that ran it); the action's logs go to stderr.",
        epilog="example: action-executor run std.echo output=hello delay=0.5\n\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("action", help="action name, e.g. std.echo")
    run.add_argument(
        "params",
        nargs="*",
        metavar="KEY=VALUE",
        help="a parameter; VALUE is JSON when it parses, else a string; a VALUE that "
        'starts with [ { or " must be valid JSON',
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
