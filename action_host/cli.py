"""``action-host``: the action host program.

Run by hand it is a debugging tool: ``action-host --inspect`` shows which
actions this interpreter can see, and why broken ones fail to load. The
executor starts it with ``--serve`` (the protocol channel on fd 0) or
``--template`` (a warm process that forks one child per action).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from protocol import PROTOCOL_VERSION, RUNTIME_VERSION
from protocol.exit_codes import ExitCode

if TYPE_CHECKING:  # the models are imported where --inspect runs, never in a template
    from protocol.messages import ActionInfo, HostInfo


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def render_inspect(host: HostInfo, actions: list[ActionInfo], notices: Sequence[str] = ()) -> str:
    ok = [a for a in actions if a.error is None]
    broken = [a for a in actions if a.error is not None]
    out = [
        f"interpreter: {host.interpreter} (Python {host.python_version})",
        f"environment: {host.prefix}",
        f"runtime:     mistral-action-host {host.runtime_version}, "
        f"protocol {host.protocol_version}",
        "",
        f"{len(ok)} action(s):",
    ]
    rows = [
        [
            a.name,
            a.class_path,
            a.module,
            f"{a.distribution} {a.version}" if a.distribution else "-",
            a.signature(),
            a.description,
        ]
        for a in ok
    ]
    for a in ok:  # a generated action's class is its base class + these attributes
        if a.class_attrs:
            attrs = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(a.class_attrs.items()))
            rows[ok.index(a)][1] = f"{a.class_path}[{attrs}]"
    out.append(
        _table(
            rows,
            ["NAME", "CLASS", "MODULE", "DISTRIBUTION", "PARAMETERS", "DESCRIPTION"],
        )
    )
    if broken:
        out += ["", f"{len(broken)} entry point(s) failed to load:"]
        rows = [
            [
                a.name,
                a.class_path,
                f"{a.distribution} {a.version}" if a.distribution else "-",
                a.error or "",
            ]
            for a in broken
        ]
        out.append(_table(rows, ["NAME", "TARGET", "DISTRIBUTION", "ERROR"]))
    shadowed = [a for a in actions if a.shadowed]
    if shadowed:
        out += ["", "names offered more than once (the entry above wins; these lose):"]
        for a in shadowed:
            out += [f"  {a.name}: {loser}" for loser in a.shadowed]
    if notices:
        out += ["", "notices:"]
        out += [f"  - {notice}" for notice in notices]
    return "\n".join(out)


def inspect_main(as_json: bool) -> int:
    from protocol.messages import HostInfo

    from . import describe, discovery
    from .handlers import host_info

    catalog = discovery.load_all()
    actions = describe.describe(catalog)
    notices = discovery.notices(catalog)
    host = HostInfo.model_validate(host_info())
    if as_json:
        payload = {
            "host": host.model_dump(),
            "actions": [a.model_dump(mode="json") for a in actions],
            "notices": notices,
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render_inspect(host, actions, notices))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="action-host",
        description=(
            "Load and run Mistral actions in an isolated process. Run by hand, "
            "--inspect shows what this interpreter can see; the other modes are "
            "started by action-executor."
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"action-host {RUNTIME_VERSION} (protocol {PROTOCOL_VERSION})",
        help="print the runtime's and the protocol's versions and exit",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--inspect",
        action="store_true",
        help="list the actions this interpreter can load ('mistral.actions' entry "
        "points and actions made by 'mistral.generators'), with parameters, every "
        "entry that fails to load with its error, and notices (e.g. entry points "
        "in a misspelt group)",
    )
    mode.add_argument(
        "--serve",
        action="store_true",
        help="(executor use) serve one action over the protocol channel on fd 0",
    )
    mode.add_argument(
        "--template",
        action="store_true",
        help="(executor use) become a warm template that forks one child per "
        "action; control channel on fd 0",
    )
    parser.add_argument("--json", action="store_true", help="with --inspect: print JSON")
    parser.add_argument(
        "--parent-pid",
        type=int,
        metavar="PID",
        help="with --serve/--template: die (SIGKILL) when this parent process dies",
    )
    parser.add_argument(
        "--limits",
        metavar="JSON",
        help="with --serve: resource limits to apply before loading any action",
    )
    parser.add_argument(
        "--sandbox",
        metavar="JSON",
        help="with --serve or --template: the sandbox (protocol SandboxSpec) each "
        "action's process enters before loading any action; --serve then serves from "
        "a sandboxed child of this process",
    )
    parser.add_argument(
        "--config-file",
        metavar="PATH",
        action="append",
        default=[],
        dest="config_files",
        help="an oslo.config file with operator settings for actions (e.g. the "
        "[action_std_http] egress policy of std.http), loaded before any action; "
        "repeatable, later files override earlier ones",
    )
    parser.add_argument(
        "--import",
        metavar="MODULE",
        action="append",
        default=[],
        dest="preimport",
        help="import MODULE after the config files and before any action (e.g. "
        "mistral.db.v2.api, which Mistral's own actions need first); repeatable",
    )
    parser.add_argument(
        "--strict-serialization",
        action="store_true",
        help="refuse action results that are not plain data, instead of converting "
        "them to primitives the way Mistral does",
    )
    parser.add_argument(
        "--preload",
        nargs="?",
        const="all",
        default="none",
        choices=["all", "used", "none"],
        help="with --template: which action modules the template imports: all "
        "(before forking; the default with a bare --preload), used (each after its "
        "first successful run, when the executor says so) or none (the default)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.inspect:
        if args.sandbox:  # an action's sandbox for the imports that listing runs
            code = _enter_sandbox(None, args)
            if code:
                return code
        return _load_settings(args) or inspect_main(args.json)
    if os.isatty(0):
        sys.stderr.write(
            "action-host: --serve and --template speak a binary protocol on fd 0 and "
            "are started by action-executor; to see what this host can load, run "
            "'action-host --inspect'\n"
        )
        return ExitCode.USAGE
    if args.parent_pid:
        from .lifeline import exit_with_parent

        exit_with_parent(args.parent_pid)
    from .stdio import attach_output, take_channel_from_stdin

    channel = take_channel_from_stdin()
    attach_output()
    if args.limits:
        from . import limits

        limits.apply(json.loads(args.limits))
    if args.sandbox and not args.template:
        code = _enter_sandbox(channel, args)
        if code:
            return code
    code = _load_settings(args)
    if code:
        return code
    if args.template:
        from .template import run_template

        run_template(channel, preload=args.preload, sandbox_json=args.sandbox)
    from .serve import serve

    serve(channel)


def _enter_sandbox(channel: int | None, args: argparse.Namespace) -> int:
    """A sandboxed child of this process carries on (this one supervises it)."""
    from .sandbox import SandboxError, spawned_host

    try:
        spawned_host(channel, args.sandbox)
    except (SandboxError, OSError, ValueError) as exc:
        sys.stderr.write(f"action-host: cannot enter the sandbox: {exc}\n")
        return ExitCode.CHILD_SETUP_FAILED
    return 0


def _load_settings(args: argparse.Namespace) -> int:
    """Config files, modules to import first, strictness: the environment's
    settings, applied before any action (and, sandboxed, inside the sandbox)."""
    if args.config_files:
        from . import settings

        try:
            settings.load(args.config_files)
        except settings.SettingsError as exc:
            sys.stderr.write(f"action-host: {exc}\n")
            return ExitCode.SETTINGS_FAILED
    for module in args.preimport:
        try:
            importlib.import_module(module)
        except BaseException as exc:
            sys.stderr.write(
                f"action-host: cannot import {module!r} (an environment setting asks for "
                f"it before the actions): {type(exc).__name__}: {exc}\n"
            )
            return ExitCode.SETTINGS_FAILED
    if args.strict_serialization:
        from actions_api import serialization

        serialization.set_strict(True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
