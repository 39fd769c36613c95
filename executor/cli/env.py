"""``action-executor install`` and ``action-executor env ...``: the plugin environments."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from executor.cli.common import (
    EXIT_OK,
    UsageError,
    help_without_subcommand,
    make_executor,
    progress,
    state_dir,
    uv_args,
)
from executor.cli.output import add_output_options, print_list, print_show

DEFAULT_ENV = "default"  # executor.environments.model.DEFAULT_ENV (imported lazily there)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # as the environment store checks


def check_env_name(name: str, doing: str) -> None:
    """Refuse, before any work, a name the store would refuse, saying why."""
    if name == DEFAULT_ENV:
        raise UsageError(
            f"cannot {doing} 'default': it is the executor's own environment (its own "
            "interpreter, with the std actions), which always exists and is not managed "
            "here; 'action-executor env show default' shows it. Pick another name, "
            "e.g. 'action-executor install --env my-env ./my-package'"
        )
    if not _NAME.match(name):
        raise UsageError(
            f"invalid environment name {name!r}: use up to 64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )


_PATHLIKE = re.compile(r"^(\.{1,2}(/|$)|/|~)|\.(whl|tar\.gz|zip)$")


def check_specs(specs: list[str]) -> None:
    """A spec that names a local path must exist: say so before uv runs, with
    the folder it was looked up from."""
    for spec in specs:
        if spec.startswith("-") or not _PATHLIKE.search(spec):
            continue
        path = os.path.expanduser(spec)
        if not os.path.exists(path):
            raise UsageError(
                f"{spec} does not exist (looked for {os.path.abspath(path)} from "
                f"{os.getcwd()}); give the path of your package's folder, the one "
                "holding pyproject.toml or setup.py"
            )
        if os.path.isdir(path) and not any(
            os.path.exists(os.path.join(path, f)) for f in ("pyproject.toml", "setup.py")
        ):
            raise UsageError(
                f"{spec} is a folder but not a Python package: it holds no pyproject.toml "
                "or setup.py"
            )


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
    check_env_name(env, "install into")
    check_specs(args.specs)
    # Not started: installing runs no action, only the sandboxed check of the
    # new build (an executor's full policy, e.g. a cgroup per action, may
    # need what a shell of the service's user lacks: its unit's cgroup).
    executor = make_executor(args)
    try:
        infos = executor.install(
            env,
            args.specs,
            prefer=args.prefer,
            progress=progress,
            uv_args=uv_args(args),
            strict=args.strict,
        )
    finally:
        executor.close()
    _print_installed(env, infos)
    return EXIT_OK


def cmd_env_create(args: argparse.Namespace) -> int:
    from executor.environments.store import EnvironmentStore

    check_env_name(args.name, "create")
    store = EnvironmentStore(state_dir(args), progress=progress, uv_args=uv_args(args))
    record = store.create(args.name, args.python)
    print(f"created environment {record.name} ({record.python})")
    return EXIT_OK


def cmd_env_upgrade(args: argparse.Namespace) -> int:
    check_env_name(args.name, "upgrade")
    check_specs(args.specs)
    executor = make_executor(args)  # not started: see cmd_install
    try:
        executor.store.record(args.name)  # a clear error when it does not exist
        infos = executor.install(
            args.name, args.specs, upgrade=True, progress=progress, uv_args=uv_args(args)
        )
    finally:
        executor.close()
    _print_installed(args.name, infos)
    return EXIT_OK


LIST_COLUMNS = ("name", "kind", "python", "requirements", "path")
SHOW_FIELDS = (
    "name",
    "kind",
    "python",
    "path",
    "target",
    "size",
    "requirements",
    "wins_names",
    "settings",
    "packages",
    "actions",
)


def cmd_env_list(args: argparse.Namespace) -> int:
    from executor.environments.model import default_environment
    from executor.environments.store import EnvironmentStore

    store = EnvironmentStore(state_dir(args))
    default = default_environment()
    rows: list[dict[str, Any]] = [
        {
            "name": DEFAULT_ENV,
            "kind": "builtin",
            "python": default.python,
            "requirements": [],
            "path": sys.prefix,
        }
    ]
    for name in store.names():
        record = store.record(name)
        rows.append(
            {
                "name": name,
                "kind": "plugin",
                "python": record.python,
                "requirements": record.requirements,
                "path": store.environment(name).path,
            }
        )
    print_list(LIST_COLUMNS, rows, args)
    if args.output_format == "table" and len(rows) == 1:
        print(
            "no plugin environments yet; 'action-executor install --env NAME SPEC' creates one",
            file=sys.stderr,
        )
    return EXIT_OK


def _action_item(info: Any) -> dict[str, Any]:
    return {"name": info.name, "parameters": info.signature(), "error": info.error}


def _show_action(item: dict[str, Any]) -> str:
    if item["error"]:
        return f"{item['name']}  BROKEN: {item['error']}"
    return f"{item['name']}  ({item['parameters']})"


def cmd_env_show(args: argparse.Namespace) -> int:
    with make_executor(args) as executor:
        if args.name == DEFAULT_ENV:
            fields = _default_fields(executor)
        else:
            record = executor.store.record(args.name)
            env = executor.store.environment(args.name)
            actions = [a for e, a in executor.catalog.entries() if e == args.name]
            packages = executor.store.packages(args.name)
            fields = {
                "name": record.name,
                "kind": "plugin",
                "python": record.python,
                "path": env.path,
                "target": env.target(),
                "size": f"{executor.store.size(args.name) / 1024 / 1024:.1f} MiB",
                "requirements": record.requirements,
                "wins_names": record.preferred,
                "settings": _settings_lines(env.settings),
                "packages": [{"name": n, "version": v} for n, v in packages],
                "actions": [_action_item(a) for a in actions],
            }
    print_show(
        fields,
        args,
        display={"packages": lambda p: f"{p['name']} {p['version']}", "actions": _show_action},
    )
    return EXIT_OK


def _default_fields(executor: Any) -> dict[str, Any]:
    """The executor's own environment: its interpreter, its distributions and the
    std actions (it is not built by the store, so it has no record)."""
    from importlib import metadata

    default = executor.catalog.default
    packages = sorted(
        {(d.metadata["Name"], d.version) for d in metadata.distributions() if d.metadata["Name"]},
        key=lambda p: p[0].lower(),
    )
    return {
        "name": DEFAULT_ENV,
        "kind": "builtin",
        "python": default.python,
        "path": sys.prefix,
        "target": os.path.realpath(default.python),
        "size": None,
        "requirements": [],
        "wins_names": [],
        "settings": _settings_lines(default.settings),
        "packages": [{"name": n, "version": v} for n, v in packages],
        "actions": [_action_item(a) for e, a in executor.catalog.entries() if e == DEFAULT_ENV],
    }


def _settings_lines(settings: Any) -> list[str]:
    from executor.environments.settings import describe

    return describe(settings)


def cmd_env_set(args: argparse.Namespace) -> int:
    """Change settings without a rebuild; running executors restart the
    environment's template when they next resolve an action."""
    from executor.environments.store import EnvironmentStore

    if args.name != DEFAULT_ENV:
        check_env_name(args.name, "change settings of")
    if not args.assignments and not args.unset:
        raise UsageError("give at least one KEY=VALUE or --unset KEY")
    store = EnvironmentStore(state_dir(args))
    settings = store.set_settings(args.name, args.assignments, args.unset or [])
    from executor.environments.settings import describe

    lines = describe(settings)
    print(f"environment {args.name} settings:" + ("" if lines else " (none)"))
    for line in lines:
        print(f"  {line}")
    return EXIT_OK


def cmd_env_remove(args: argparse.Namespace) -> int:
    check_env_name(args.name, "remove")
    with make_executor(args) as executor:
        executor.store.remove(args.name)
    print(f"removed environment {args.name}")
    return EXIT_OK


def _uv_options(sub_parser: argparse.ArgumentParser) -> None:
    sub_parser.add_argument(
        "--offline", action="store_true", help="install only from uv's cache and local files"
    )
    sub_parser.add_argument(
        "--find-links",
        action="append",
        metavar="DIR_OR_URL",
        help="also look for packages here (e.g. a folder of wheels)",
    )
    sub_parser.add_argument("--index-url", help="the package index to use")


def add_install_parser(sub: Any) -> argparse.ArgumentParser:
    install: argparse.ArgumentParser = sub.add_parser(
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
    install.add_argument(
        "--strict",
        action="store_true",
        help="fail (environment unchanged) when the packages register no working "
        "action, or entry points in a misspelt group such as 'mistral.action'",
    )
    _uv_options(install)
    install.add_argument("specs", nargs="+", metavar="SPEC", help="what to install")
    install.set_defaults(func=cmd_install)
    return install


def add_env_parser(sub: Any) -> argparse.ArgumentParser:
    env: argparse.ArgumentParser = sub.add_parser(
        "env",
        help="manage plugin environments",
        description="Manage the isolated environments actions run in.",
    )
    env_sub = env.add_subparsers(dest="env_command", metavar="ENV_COMMAND")
    create = env_sub.add_parser("create", help="create an empty environment (runtime only)")
    create.add_argument("name")
    create.add_argument("--python", help="interpreter to build it with (absolute path)")
    _uv_options(create)
    create.set_defaults(func=cmd_env_create)
    listing = env_sub.add_parser(
        "list",
        help="list environments ('default' is the executor's own)",
        description="List the environments: 'default' (kind builtin) is the executor's "
        "own interpreter with the std actions; the others (kind plugin) were built by "
        "'install' or 'env create'.",
    )
    add_output_options(listing, LIST_COLUMNS)
    listing.set_defaults(func=cmd_env_list)
    show = env_sub.add_parser(
        "show",
        help="python, path, packages, actions and size",
        description="Show one environment ('default': the executor's own).",
        epilog="example: action-executor env show greetings -f value -c path",
    )
    show.add_argument("name")
    add_output_options(show, SHOW_FIELDS)
    show.set_defaults(func=cmd_env_show)
    setting = env_sub.add_parser(
        "set",
        help="change an environment's settings (PATH, variables, limits, imports, config)",
        description="Change how the hosts of an environment run, without a rebuild. "
        "Keys: path=DIR[:DIR...] (after the environment's own bin, always first), "
        "env.NAME=VALUE, limits.NAME=VALUE (address_space, cpu_seconds, open_files, "
        "processes, file_size; K/M/G/T suffixes; 'unlimited'), "
        "preimport=MODULE[,MODULE...], config_file=PATH (oslo.config, loaded into "
        "cfg.CONF before the actions), strict_serialization=true|false.",
        epilog="example: action-executor env set js limits.address_space=256G",
    )
    setting.add_argument("name")
    setting.add_argument("assignments", nargs="*", metavar="KEY=VALUE")
    setting.add_argument(
        "--unset", action="append", metavar="KEY", help="return KEY to its default"
    )
    setting.set_defaults(func=cmd_env_set)
    remove = env_sub.add_parser("remove", help="delete an environment and its actions")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_env_remove)
    upgrade = env_sub.add_parser(
        "upgrade", help="rebuild with newer versions (of SPECs, or of everything)"
    )
    upgrade.add_argument("name")
    upgrade.add_argument("specs", nargs="*", metavar="SPEC")
    _uv_options(upgrade)
    upgrade.set_defaults(func=cmd_env_upgrade)

    help_without_subcommand(env)
    return env
