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
from executor.config import LAUNCHERS
from executor.result import json_default


def cmd_run(args: argparse.Namespace) -> int:
    params = parse_params(args.params, args.params_json)
    context = read_context(args.context)
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


#: Security fields whose values are credentials: never pass them in argv.
_SECRET_FIELDS = ("auth_token", "trust_id", "service_catalog")


def read_context(value: str | None) -> dict[str, Any] | None:
    """The ``--context`` value: JSON itself, ``@FILE`` (read from FILE) or
    ``-`` (read from stdin).

    Tokens belong in a file or on stdin: a command's argv is readable by
    every user of the machine (``ps``, ``/proc/PID/cmdline``). Errors name
    the source and the field, never a value (it may be a token).
    """
    if value is None:
        return None
    if value == "-" or value.startswith("@"):
        source, path = value, value[1:]
        where = "stdin" if value == "-" else path
        if value != "-" and not path:
            raise UsageError("--context @FILE needs a file name after the @, e.g. @ctx.json")
        try:
            if value == "-":
                raw = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as f:
                    raw = f.read()
            text = raw.decode("utf-8")
        except OSError as exc:
            raise UsageError(f"--context {value}: cannot read {where}: {exc.strerror}") from None
        except UnicodeDecodeError:  # its message would quote the bytes
            raise UsageError(f"--context {value}: not UTF-8 text") from None
    else:
        context = parse_context(value)
        if context and any((context.get("security") or {}).get(k) for k in _SECRET_FIELDS):
            print(
                "action-executor: warning: --context holds credentials in the command "
                "line, where every user of this machine can read them; pass them with "
                "--context @FILE or --context - (stdin) instead",
                file=sys.stderr,
            )
        return context
    if not text.strip():
        raise UsageError(
            f"--context {source}: {where} is empty; it must hold a JSON object shaped "
            '{"security": {...}, "execution": {...}}'
        )
    try:
        return parse_context(text)
    except UsageError as exc:  # name where the context came from
        raise UsageError(str(exc).replace("--context", f"--context {source}", 1)) from None


def _environment_of(executor: Any, action: str) -> str | None:
    """The environment that runs ``action`` (None when no environment does)."""
    try:
        env, _info = executor.catalog.resolve(action)
    except LookupError:
        return None
    return str(env.name)


def result_json(result: Any, environment: str | None) -> dict[str, Any]:
    """The Result as the CLI prints it (``Result.as_json_dict``)."""
    out: dict[str, Any] = result.as_json_dict(environment)
    return out


def add_action_arguments(parser: argparse.ArgumentParser) -> None:
    """The action and its parameters, as ``run`` and ``call`` take them
    (KEY=VALUE may also follow the options: ``intermixed``)."""
    parser.add_argument("action", help="action name, e.g. std.echo")
    parser.add_argument(
        "params",
        nargs="*",
        metavar="KEY=VALUE",
        help="a parameter; VALUE is JSON when it parses, else a string; a VALUE that "
        'starts with [ { or " must be valid JSON',
    )
    parser.add_argument(
        "--params",
        dest="params_json",
        metavar="JSON",
        help="parameters as a JSON object",
    )
    parser.set_defaults(intermixed="params")


def add_run_parser(sub: Any) -> argparse.ArgumentParser:
    run: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run one action and print its Result as JSON",
        description="Run one action and print its Result as JSON on stdout (with the "
        "environment that ran it); the action's logs go to stderr.",
        epilog="example: action-executor run std.echo output=hello delay=0.5\n\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_action_arguments(run)
    run.add_argument(
        "--context",
        metavar="JSON|@FILE|-",
        help='action context, {"security": {...}, "execution": {...}}: the JSON itself, '
        "@FILE to read it from FILE, or - to read it from stdin. Use @FILE or - for "
        "tokens: the command line is visible to every user of the machine",
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
    run.add_argument("--launcher", choices=list(LAUNCHERS), help="how hosts are started")
    run.add_argument(
        "--config-file",
        action="append",
        metavar="FILE",
        help="the executor's configuration, as serve reads it (repeatable): "
        "[action_executor] (limits, host_environ, ...), [sandbox], and the action "
        "option groups of action_config_groups (e.g. [action_std_http]), which reach "
        "the host without any option registered as secret",
    )
    run.set_defaults(func=cmd_run)
    return run
