"""``action-executor sandbox check``: what the sandbox can enforce on this machine.

Runs the same probe the executor runs before its first sandboxed host
(``executor.sandbox.probe``, in a fresh interpreter: it forks), and prints
one row per mechanism: whether this kernel and user allow it (and why not),
whether the configuration enforces it, whether the configuration requires
it. The exit code says whether an executor with this configuration would
run actions: 1 when a mechanism it requires is unavailable here (the
executor refuses to start hosts), else 0.

The configuration is the one ``action-executor run`` uses (``ExecutorConfig``'s
defaults) unless ``--config-file`` names the service's oslo.config files
(``[sandbox]`` and ``[action_executor] sandbox``/``sandbox_by_env``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from executor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    help_without_subcommand,
)
from executor.cli.output import add_output_options, print_list

COLUMNS = ("mechanism", "available", "enforced_by_default", "required", "reason")


def _configured(args: argparse.Namespace) -> Any:
    """The ``ExecutorConfig`` to check: the service's files, else the defaults."""
    from executor.config import ExecutorConfig

    if not (args.config_file or args.config_dir):
        return ExecutorConfig()
    from oslo_config import cfg

    from executor.service import options

    conf = cfg.ConfigOpts()
    options.register_opts(conf)
    argv: list[str] = []
    for path in args.config_file:
        argv += ["--config-file", path]
    for path in args.config_dir:
        argv += ["--config-dir", path]
    try:
        conf(argv, project=options.PROJECT, prog="action-executor", default_config_files=[])
        return options.executor_config(conf)
    except (cfg.Error, ValueError) as exc:
        raise UsageError(f"bad configuration: {exc}") from None


def check_rows(
    available: dict[str, tuple[bool, str]], policy: Any, mechanisms: tuple[str, ...]
) -> list[dict[str, Any]]:
    """One row per mechanism, as ``sandbox check`` prints them."""
    from executor.sandbox.policy import wanted

    enforced = set(wanted(policy))
    rows = []
    for name in mechanisms:
        ok, detail = available.get(name, (False, "not probed"))
        rows.append(
            {
                "mechanism": name,
                "available": ok,
                "enforced_by_default": name in enforced,
                "required": name in policy.required,
                "reason": "" if ok else detail,
            }
        )
    return rows


def refusals(available: dict[str, tuple[bool, str]], config: Any) -> list[tuple[str, list[str]]]:
    """(policy label, required mechanisms that are unavailable) for every policy
    an executor with ``config`` would refuse, as ``executor.sandbox.policy.startup`` does."""
    from executor.sandbox.policy import wanted

    policies = [("the default policy", config.sandbox)]
    policies += [(f"environment {env}", p) for env, p in sorted(config.sandbox_by_env.items())]
    out = []
    for label, policy in policies:
        missing = [m for m in wanted(policy) if not available.get(m, (False, ""))[0]]
        refused = [m for m in missing if m in policy.required]
        if refused:
            out.append((label, refused))
    return out


def cmd_sandbox_check(args: argparse.Namespace) -> int:
    from executor.sandbox.model import MECHANISMS
    from executor.sandbox.policy import CONSEQUENCES, run_probe, wanted

    config = _configured(args)
    if args.require:
        extra = tuple(m for m in args.require if m not in config.sandbox.required)
        config.sandbox = dataclasses.replace(
            config.sandbox, required=config.sandbox.required + extra
        )
        config.sandbox_by_env = {
            env: dataclasses.replace(p, required=p.required + extra)
            for env, p in config.sandbox_by_env.items()
        }
    try:
        available = run_probe()
    except (RuntimeError, OSError, ValueError) as exc:  # the probe itself broke
        print(f"action-executor: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_list(COLUMNS, check_rows(available, config.sandbox, MECHANISMS), args)
    if not config.sandbox.enabled:
        print(
            "note: the sandbox is off in this configuration: actions run as the executor's "
            "own user",
            file=sys.stderr,
        )
    for name in wanted(config.sandbox):
        if not available.get(name, (False, ""))[0]:
            weaker, how = CONSEQUENCES[name]
            print(f"note: without {name}, {weaker}; to enable it: {how}", file=sys.stderr)
    refused = refusals(available, config)
    for label, names in refused:
        print(
            f"action-executor: {label} requires {', '.join(names)}, unavailable here: "
            "the executor would refuse to run those actions",
            file=sys.stderr,
        )
    return EXIT_FAILED if refused else EXIT_OK


def add_sandbox_parser(sub: Any) -> argparse.ArgumentParser:
    from executor.sandbox.model import MECHANISMS

    sandbox: argparse.ArgumentParser = sub.add_parser(
        "sandbox",
        help="what the sandbox can enforce on this machine",
        description="Inspect the sandbox every action runs in (see docs/security.md).",
    )
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="SANDBOX_COMMAND")
    check = sandbox_sub.add_parser(
        "check",
        help="probe what this kernel and user allow (mechanism, available, enforced)",
        description="Probe what this kernel and user allow, the way the executor does "
        "before its first sandboxed host, and print one row per mechanism: AVAILABLE "
        "(with the REASON when not), ENFORCED_BY_DEFAULT (the configuration's default "
        "policy applies it) and REQUIRED (the executor refuses to run actions without "
        "it). The configuration is the one 'run' uses unless --config-file names the "
        "service's ([sandbox], [action_executor] sandbox and sandbox_by_env).",
        epilog="exit codes:\n"
        "  0  every mechanism the configuration requires is available\n"
        "  1  a required mechanism is unavailable: the executor would refuse to run "
        "actions\n"
        "  2  bad usage or a bad configuration file\n\n"
        "example: action-executor sandbox check -f value -c mechanism -c available",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_output_options(check, COLUMNS)
    check.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="FILE",
        help="check the service's oslo.config file (repeatable; later files win)",
    )
    check.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory of *.conf files, read after the --config-file ones",
    )
    check.add_argument(
        "--require",
        action="append",
        default=[],
        choices=MECHANISMS,
        metavar="MECHANISM",
        help="also require this mechanism (repeatable): " + ", ".join(MECHANISMS),
    )
    check.set_defaults(func=cmd_sandbox_check)

    help_without_subcommand(sandbox)
    return sandbox
