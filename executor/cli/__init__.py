"""``action-executor``: run actions in sandboxed hosts from the command line.

Exit codes: 0 the action succeeded, 1 it failed (the Result is still printed),
2 bad usage (unknown option, malformed parameter, unknown command).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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
    from executor.config import ExecutorConfig
    from executor.executor import Executor

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
        entries = executor.catalog.entries(refresh=args.refresh)
    if args.json:
        payload = [{"environment": env, **a.model_dump(mode="json")} for env, a in entries]
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    width = max([len("NAME")] + [len(a.name) for _, a in entries])
    env_width = max([len("ENVIRONMENT")] + [len(env) for env, _ in entries])
    print(f"{'NAME'.ljust(width)}  {'ENVIRONMENT'.ljust(env_width)}  PARAMETERS / DESCRIPTION")
    for env, a in entries:
        head = f"{a.name.ljust(width)}  {env.ljust(env_width)}"
        if a.error:
            print(f"{head}  BROKEN: {a.error}")
        else:
            print(f"{head}  ({a.signature()})  {a.description}")
    return EXIT_OK


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _uv_args(args: argparse.Namespace) -> list[str]:
    extra = []
    if getattr(args, "offline", False):
        extra.append("--offline")
    for link in getattr(args, "find_links", None) or []:
        extra += ["--find-links", os.path.abspath(link) if os.path.exists(link) else link]
    if getattr(args, "index_url", None):
        extra += ["--index-url", args.index_url]
    return extra


def _print_installed(env: str, infos: list[Any]) -> None:
    good = [i for i in infos if not i.error]
    print(f"environment {env}: {len(good)} action(s)")
    for info in infos:
        status = f"BROKEN: {info.error}" if info.error else f"({info.signature()})"
        print(f"  {info.name}  {status}")


def cmd_install(args: argparse.Namespace) -> int:
    from executor.environments.store import requirement_name

    env = args.env or (requirement_name(args.specs[0]) if args.specs else None)
    if not env:
        raise UsageError("cannot derive an environment name from the specs: pass --env NAME")
    with _executor(args) as executor:
        infos = executor.install(
            env,
            args.specs,
            prefer=args.prefer,
            progress=_progress,
            uv_args=_uv_args(args),
        )
    _print_installed(env, infos)
    return EXIT_OK


def cmd_env_create(args: argparse.Namespace) -> int:
    from executor.environments.store import EnvironmentStore

    store = EnvironmentStore(_state_dir(args), progress=_progress, uv_args=_uv_args(args))
    record = store.create(args.name, args.python)
    print(f"created environment {record.name} ({record.python})")
    return EXIT_OK


def cmd_env_upgrade(args: argparse.Namespace) -> int:
    with _executor(args) as executor:
        executor.store.record(args.name)  # a clear error when it does not exist
        infos = executor.install(
            args.name, args.specs, upgrade=True, progress=_progress, uv_args=_uv_args(args)
        )
    _print_installed(args.name, infos)
    return EXIT_OK


def cmd_env_list(args: argparse.Namespace) -> int:
    from executor.environments.store import EnvironmentStore

    store = EnvironmentStore(_state_dir(args))
    names = store.names()
    if not names:
        print("no environments yet; 'action-executor install --env NAME SPEC' creates one")
        return EXIT_OK
    for name in names:
        record = store.record(name)
        print(f"{name}  python={record.python}  requirements={len(record.requirements)}")
    return EXIT_OK


def cmd_env_show(args: argparse.Namespace) -> int:
    with _executor(args) as executor:
        record = executor.store.record(args.name)
        env = executor.store.environment(args.name)
        actions = [a for e, a in executor.catalog.entries() if e == args.name]
        packages = executor.store.packages(args.name)
        size = executor.store.size(args.name)
    print(f"name:         {record.name}")
    print(f"python:       {record.python}")
    print(f"path:         {env.path} -> {env.target()}")
    print(f"size:         {size / 1024 / 1024:.1f} MiB")
    print(f"requirements: {', '.join(record.requirements) or '-'}")
    if record.preferred:
        print(f"wins names:   {', '.join(record.preferred)}")
    print(f"packages ({len(packages)}):")
    for name, version in packages:
        print(f"  {name} {version}")
    print(f"actions ({len(actions)}):")
    for a in actions:
        print(f"  {a.name}  " + (f"BROKEN: {a.error}" if a.error else f"({a.signature()})"))
    return EXIT_OK


def cmd_env_remove(args: argparse.Namespace) -> int:
    with _executor(args) as executor:
        executor.store.remove(args.name)
    print(f"removed environment {args.name}")
    return EXIT_OK


def _state_dir(args: argparse.Namespace) -> str:
    from executor.config import default_state_dir

    return args.state_dir or default_state_dir()


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
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the executor's own work to stderr (-v: info, -vv: debug)",
    )
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

    actions = sub.add_parser(
        "actions",
        help="list the available actions with their parameters",
        description="List the actions the executor can run, with their parameters.",
    )
    actions.add_argument("--json", action="store_true", help="print JSON")
    actions.add_argument("--refresh", action="store_true", help="re-scan the environments")
    actions.set_defaults(func=cmd_actions)

    def uv_options(sub_parser: argparse.ArgumentParser) -> None:
        sub_parser.add_argument(
            "--offline", action="store_true", help="install only from uv's cache and local files"
        )
        sub_parser.add_argument(
            "-f",
            "--find-links",
            action="append",
            metavar="DIR_OR_URL",
            help="also look for packages here (e.g. a folder of wheels)",
        )
        sub_parser.add_argument("--index-url", help="the package index to use")

    install = sub.add_parser(
        "install",
        help="install action packages into an isolated environment",
        description="Install packages (anything pip accepts: NAME==VERSION, a local "
        "path, a wheel, -r requirements.txt) into their own environment. The "
        "environment is built anew in a temporary place and swapped in only when it "
        "works; a failed or interrupted install changes nothing.",
        epilog="example: action-executor install --env ops ./my-actions",
    )
    install.add_argument("--env", help="environment name (default: derived from the first package)")
    install.add_argument(
        "--prefer",
        action="store_true",
        help="this environment wins action names that other environments provide too",
    )
    uv_options(install)
    install.add_argument("specs", nargs="+", metavar="SPEC", help="what to install")
    install.set_defaults(func=cmd_install)

    env = sub.add_parser(
        "env",
        help="manage plugin environments",
        description="Manage the isolated environments actions run in.",
    )
    env_sub = env.add_subparsers(dest="env_command", metavar="ENV_COMMAND")
    create = env_sub.add_parser("create", help="create an empty environment (runtime only)")
    create.add_argument("name")
    create.add_argument("--python", help="interpreter to build it with (absolute path)")
    uv_options(create)
    create.set_defaults(func=cmd_env_create)
    listing = env_sub.add_parser("list", help="list environments")
    listing.set_defaults(func=cmd_env_list)
    show = env_sub.add_parser("show", help="python, path, packages, actions and size")
    show.add_argument("name")
    show.set_defaults(func=cmd_env_show)
    remove = env_sub.add_parser("remove", help="delete an environment and its actions")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_env_remove)
    upgrade = env_sub.add_parser(
        "upgrade", help="rebuild with newer versions (of SPECs, or of everything)"
    )
    upgrade.add_argument("name")
    upgrade.add_argument("specs", nargs="*", metavar="SPEC")
    uv_options(upgrade)
    upgrade.set_defaults(func=cmd_env_upgrade)
    env.set_defaults(func=lambda a: (env.print_help(sys.stderr), EXIT_USAGE)[1])
    from executor.service.cli import add_serve_parser  # oslo imports stay lazy: cmd_serve

    add_serve_parser(sub)
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
    from executor.environments.store import EnvironmentError_

    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"action-executor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EnvironmentError_ as exc:  # a refused or failed environment change
        print(f"action-executor: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
