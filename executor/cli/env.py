"""``action-executor install`` and ``action-executor env ...``: the plugin environments."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from executor.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    make_executor,
    progress,
    state_dir,
    uv_args,
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
    with make_executor(args) as executor:
        infos = executor.install(
            env,
            args.specs,
            prefer=args.prefer,
            progress=progress,
            uv_args=uv_args(args),
        )
    _print_installed(env, infos)
    return EXIT_OK


def cmd_env_create(args: argparse.Namespace) -> int:
    from executor.environments.store import EnvironmentStore

    store = EnvironmentStore(state_dir(args), progress=progress, uv_args=uv_args(args))
    record = store.create(args.name, args.python)
    print(f"created environment {record.name} ({record.python})")
    return EXIT_OK


def cmd_env_upgrade(args: argparse.Namespace) -> int:
    with make_executor(args) as executor:
        executor.store.record(args.name)  # a clear error when it does not exist
        infos = executor.install(
            args.name, args.specs, upgrade=True, progress=progress, uv_args=uv_args(args)
        )
    _print_installed(args.name, infos)
    return EXIT_OK


def cmd_env_list(args: argparse.Namespace) -> int:
    from executor.environments.store import EnvironmentStore

    store = EnvironmentStore(state_dir(args))
    names = store.names()
    if not names:
        print("no environments yet; 'action-executor install --env NAME SPEC' creates one")
        return EXIT_OK
    for name in names:
        record = store.record(name)
        print(f"{name}  python={record.python}  requirements={len(record.requirements)}")
    return EXIT_OK


def cmd_env_show(args: argparse.Namespace) -> int:
    with make_executor(args) as executor:
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
    with make_executor(args) as executor:
        executor.store.remove(args.name)
    print(f"removed environment {args.name}")
    return EXIT_OK


def _uv_options(sub_parser: argparse.ArgumentParser) -> None:
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


def add_install_parser(sub: Any) -> argparse.ArgumentParser:
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
    _uv_options(install)
    install.add_argument("specs", nargs="+", metavar="SPEC", help="what to install")
    install.set_defaults(func=cmd_install)
    return install


def add_env_parser(sub: Any) -> argparse.ArgumentParser:
    env = sub.add_parser(
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
    _uv_options(upgrade)
    upgrade.set_defaults(func=cmd_env_upgrade)
    env.set_defaults(func=lambda a: (env.print_help(sys.stderr), EXIT_USAGE)[1])
    return env
