"""``action-executor``: run actions in sandboxed hosts from the command line.

Exit codes: 0 the action succeeded, 1 it failed (the Result is still printed),
2 bad usage (unknown option, malformed parameter, unknown command).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def parse_value(text: str) -> Any:
    """A value is JSON when it parses as JSON, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(pairs: Sequence[str], params_json: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if params_json:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            raise UsageError(f"--params is not valid JSON: {exc}") from None
        if not isinstance(params, dict):
            raise UsageError('--params must be a JSON object, e.g. \'{"output": "hi"}\'')
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(
                f"parameter {pair!r} is not KEY=VALUE (e.g. output=hello, delay=0.5, "
                "items='[1, 2]')"
            )
        params[key] = parse_value(value)
    return params


def parse_context(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        ctx = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--context is not valid JSON: {exc}") from None
    if not isinstance(ctx, dict) or not set(ctx) <= {"security", "execution"}:
        raise UsageError(
            '--context must be a JSON object shaped {"security": {...}, "execution": {...}}'
        )
    return ctx


class _ActionLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return (
            "\n".join(f"[{record.name}] {line}" for line in text.splitlines()) or f"[{record.name}]"
        )


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ActionLogFormatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("action").setLevel(logging.DEBUG)
    if verbose:
        root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _executor(args: argparse.Namespace) -> Any:
    from .config import ExecutorConfig
    from .executor import Executor

    config = ExecutorConfig()
    if args.state_dir:
        config.state_dir = args.state_dir
    if getattr(args, "launcher", None):
        config.launcher = args.launcher
    return Executor(config)


def cmd_run(args: argparse.Namespace) -> int:
    params = parse_params(args.params, args.params_json)
    context = parse_context(args.context)
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    with _executor(args) as executor:
        result = executor.run(
            args.action,
            params,
            context=context,
            timeout=args.timeout,
            dry_run=args.dry_run,
        )
    print(result.to_json())
    return EXIT_OK if result.is_success() else EXIT_FAILED


def cmd_actions(args: argparse.Namespace) -> int:
    with _executor(args) as executor:
        actions = executor.actions(refresh=args.refresh)
    if args.json:
        print(json.dumps([a.model_dump(mode="json") for a in actions], indent=2))
        return EXIT_OK
    width = max((len(a.name) for a in actions), default=4)
    for a in actions:
        if a.error:
            print(f"{a.name.ljust(width)}  BROKEN: {a.error}")
        else:
            print(f"{a.name.ljust(width)}  ({a.signature()})  {a.description}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="action-executor",
        description="Run Mistral actions, each in its own sandboxed host process.",
    )
    parser.add_argument(
        "--state-dir",
        help="where environments, indexes and work directories live "
        "(default: $ACTION_EXECUTOR_STATE_DIR or ~/.local/state/mistral-action-host)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    run.add_argument("--timeout", type=float, metavar="S", help="kill the action after S seconds")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="call the action's test() instead of run()",
    )
    run.add_argument("--launcher", choices=["fork", "spawn"], help="how hosts are started")
    run.set_defaults(func=cmd_run)

    actions = sub.add_parser(
        "actions",
        help="list the available actions with their parameters",
        description="List the actions the executor can run, with their parameters.",
    )
    actions.add_argument("--json", action="store_true", help="print JSON")
    actions.add_argument("--refresh", action="store_true", help="re-scan the environments")
    actions.set_defaults(func=cmd_actions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"action-executor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
