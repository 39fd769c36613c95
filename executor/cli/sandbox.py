"""``action-executor sandbox check``: whether this machine can enforce the sandbox.

Runs the same probe the executor runs before its first sandboxed host
(``executor.sandbox.probe``, in a fresh interpreter: it forks), for the
configuration's ``uid_range``, and prints one row per mechanism: whether
this kernel and user allow it (and why not) and whether the configuration's
default policy enforces it.

Every mechanism a policy asks for is required: an executor refuses to start
when one is missing (``executor.sandbox.policy.check_available``). So the
exit code says whether an executor with this configuration would start: 1
when the default policy or an environment's (``sandbox_by_env``) cannot be
enforced here, with one line per missing mechanism on stderr (why it is
missing, how to enable it, which option lowers the policy), else 0.

The configuration is the one ``action-executor run`` uses (``ExecutorConfig``'s
defaults) unless ``--config-file`` names the service's oslo.config files
(``[sandbox]`` and ``[action_executor] sandbox``/``sandbox_by_env``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from executor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    help_without_subcommand,
)
from executor.cli.output import add_output_options, print_list

COLUMNS = ("mechanism", "available", "enforced_by_default", "reason")

#: What a sandbox that is off gives away (as the executor logs it at start).
OFF_NOTE = (
    "the sandbox is OFF ([action_executor] sandbox = false): actions run as the "
    "executor's user (uid {uid} here), see and may change everything it can (its state "
    "directory, its configuration, other environments), reach every service of this "
    "host and live beyond their run; only {kept} remain"
)


def _configured(args: argparse.Namespace) -> Any:
    """The ``ExecutorConfig`` to check: the service's files, else the defaults."""
    from executor.config import ExecutorConfig

    if not (args.config_file or args.config_dir):
        return ExecutorConfig()
    from oslo_config import cfg

    from executor.service import options, settings

    conf = cfg.ConfigOpts()
    options.register_opts(conf)
    argv: list[str] = []
    for path in args.config_file:
        argv += ["--config-file", path]
    for path in args.config_dir:
        argv += ["--config-dir", path]
    try:
        conf(argv, project=options.PROJECT, prog="action-executor", default_config_files=[])
        return settings.executor_config(conf)
    except (cfg.Error, ValueError) as exc:
        raise UsageError(f"bad configuration: {exc}") from None


def check_rows(available: dict[str, tuple[bool, str]], policy: Any) -> list[dict[str, Any]]:
    """One row per mechanism, as ``sandbox check`` prints them."""
    from executor.sandbox.model import MECHANISMS
    from executor.sandbox.policy import wanted

    enforced = set(wanted(policy))
    rows = []
    for name in MECHANISMS:
        ok, detail = available.get(name, (False, "not probed"))
        rows.append(
            {
                "mechanism": name,
                "available": ok,
                "enforced_by_default": name in enforced,
                "reason": "" if ok else detail,
            }
        )
    return rows


def policies(config: Any) -> list[tuple[str, Any]]:
    """(label, policy) for every policy an executor with ``config`` applies."""
    out = [("the default policy", config.sandbox)]
    out += [(f"environment {env}", p) for env, p in sorted(config.sandbox_by_env.items())]
    return out


def refused(config: Any, available: dict[str, tuple[bool, str]]) -> list[str]:
    """The stderr lines for every policy this machine cannot enforce (none: it can)."""
    from executor.sandbox.policy import refusals

    lines = []
    for label, policy in policies(config):
        missing = refusals(policy, available)
        if missing:
            source = ""
            if label != "the default policy":  # [sandbox] but its own network
                source = f" ([sandbox] with network = {policy.network} from sandbox_by_env)"
            lines.append(
                f"action-executor: {label}{source} cannot be enforced on this machine, so an "
                "executor with this configuration would not start; missing:"
            )
            lines += [f"  - {line}" for line in missing]
    return lines


def required_extra(names: list[str], available: dict[str, tuple[bool, str]]) -> list[str]:
    """The stderr lines for ``--require`` mechanisms that are unavailable here."""
    from executor.sandbox.policy import CONSEQUENCES

    lines = []
    for name in dict.fromkeys(names):
        ok, why = available.get(name, (False, "not probed"))
        if not ok:
            _weaker, how, _lower = CONSEQUENCES[name]
            lines.append(
                f"action-executor: --require {name}: unavailable here: {why}. To enable it: {how}"
            )
    return lines


def off_notes(config: Any, available: dict[str, tuple[bool, str]]) -> list[str]:
    """A loud note for every policy that turns the sandbox off, saying what
    still holds here (what a host keeps then: ``runtime._OFF_SPEC``)."""
    notes = []
    for label, policy in policies(config):
        if policy.enabled:
            continue
        kept = ["no_new_privs"]
        if available.get("seccomp", (False, ""))[0]:
            kept.append("the seccomp filter")
        if policy.landlock and available.get("landlock", (False, ""))[0]:
            kept.append("Landlock's signal and abstract-socket scopes")
        text = ", ".join(kept[:-1]) + " and " + kept[-1] if len(kept) > 1 else kept[0]
        notes.append(f"note: {label}: {OFF_NOTE.format(uid=os.geteuid(), kept=text)}")
    return notes


def cmd_sandbox_check(args: argparse.Namespace) -> int:
    from executor.sandbox.policy import run_probe

    config = _configured(args)
    first, count = config.sandbox.uid_range
    try:
        available = run_probe(first, count)
    except (RuntimeError, OSError, ValueError) as exc:  # the probe itself broke
        print(f"action-executor: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_list(COLUMNS, check_rows(available, config.sandbox), args)
    for line in off_notes(config, available):
        print(line, file=sys.stderr)
    if config.sandbox.required:
        print(
            "note: [sandbox] required is kept for old configurations and changes nothing: "
            "every mechanism a policy asks for is required",
            file=sys.stderr,
        )
    problems = refused(config, available) + required_extra(args.require, available)
    for line in problems:
        print(line, file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


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
        help="probe whether this machine can enforce the configured sandbox",
        description="Probe what this kernel and user allow, the way the executor does "
        "before its first sandboxed host, and print one row per mechanism: AVAILABLE "
        "(with the REASON when not) and ENFORCED_BY_DEFAULT (the configuration's default "
        "policy asks for it). Every mechanism a policy asks for is required: when one "
        "is missing, the executor does not start, and this command names it, how to "
        "enable it and the option that lowers the policy. The configuration is the one "
        "'run' uses unless --config-file names the service's ([sandbox], "
        "[action_executor] sandbox and sandbox_by_env).",
        epilog="exit codes:\n"
        "  0  this machine can enforce every policy of the configuration (and every\n"
        "     --require mechanism): an executor with it would start\n"
        "  1  a mechanism a policy asks for (or --require names) is unavailable here:\n"
        "     the executor would not start (stderr says what is missing and what to do)\n"
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
        help="also require this mechanism, even if no policy of the configuration asks "
        "for it (repeatable): " + ", ".join(MECHANISMS),
    )
    check.set_defaults(func=cmd_sandbox_check)

    help_without_subcommand(sandbox)
    return sandbox
