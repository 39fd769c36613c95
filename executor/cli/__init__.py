"""``action-executor``: run actions in sandboxed hosts from the command line.

Exit codes: 0 success; 1 the action failed (the Result is still printed) or
an environment change failed; 2 the request was refused and nothing ran (bad
usage, invalid parameters or context, unknown action or environment).

One module per command (run, actions, env, completion); this module assembles
the parser and dispatches. ``common`` holds what the commands share,
``output`` the ``-f``/``-c`` options of the list and show commands.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from executor.cli.actions import add_actions_parser
from executor.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    parse_context,
    parse_params,
    parse_value,
    setup_logging,
)
from executor.cli.completion import add_completion_parser
from executor.cli.env import add_env_parser, add_install_parser
from executor.cli.run import add_run_parser
from executor.cli.sandbox import add_sandbox_parser

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "parse_context",
    "parse_params",
    "parse_value",
]


def version() -> str:
    from importlib import metadata

    from protocol import PROTOCOL_VERSION

    try:
        dist = metadata.version("mistral-action-host")
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        dist = "unknown"
    return f"action-executor {dist} (protocol {PROTOCOL_VERSION})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="action-executor",
        description="Run Mistral actions, each in its own sandboxed host process.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument(
        "--state-dir",
        help="where environments, indexes and work directories live "
        "(default: $ACTION_EXECUTOR_STATE_DIR or ~/.local/state/mistral-action-host)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the executor's own work to stderr (-v: info, -vv: debug)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_parser(sub)
    add_actions_parser(sub)
    add_install_parser(sub)
    add_env_parser(sub)
    add_sandbox_parser(sub)
    from executor.service.cli import add_serve_parser  # oslo imports stay lazy: cmd_serve

    add_serve_parser(sub)
    from executor.cli.call import add_call_parser

    add_call_parser(sub)
    add_completion_parser(sub, parser)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse, letting a command's KEY=VALUE parameters follow its options
    (argparse's parse_intermixed_args refuses parsers with subcommands)."""
    args, extra = parser.parse_known_args(argv)
    dest = getattr(args, "intermixed", None)
    if extra and dest and all("=" in e and not e.startswith("-") for e in extra):
        getattr(args, dest).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    setup_logging(args.verbose)
    from executor.environments.model import EnvironmentChangeFailed, EnvironmentRequestInvalid
    from executor.sandbox.policy import SandboxUnavailable

    # SIGTERM ends a command like Ctrl-C: the executor closes and kills its hosts
    # (``serve`` installs its own handlers for a graceful stop).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("action-executor: interrupted; every action host was stopped", file=sys.stderr)
        return 128 + signal.SIGINT
    except UsageError as exc:
        print(f"action-executor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EnvironmentRequestInvalid as exc:  # no such environment, a bad setting
        print(f"action-executor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EnvironmentChangeFailed as exc:  # a refused or failed environment change
        print(f"action-executor: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except SandboxUnavailable as exc:  # as 'sandbox check' says it: each fix named
        print(f"action-executor: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # stdout closed early (| head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
