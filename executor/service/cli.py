"""``action-executor serve``: run as Mistral's executor (``mistral-server --server executor``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from protocol.exit_codes import CommandExit

EXIT_OK, EXIT_FAILED, EXIT_USAGE = CommandExit.OK, CommandExit.FAILED, CommandExit.USAGE


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the ``action-executor`` sub-commands."""
    serve: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run as Mistral's executor service over RabbitMQ (until SIGTERM)",
        description="Serve Mistral's executor RPC (run_action) on the message bus, "
        "in place of 'mistral-server --server executor'. Configuration is oslo.config: "
        "a Mistral operator's mistral.conf works for the options both share "
        "([DEFAULT] transport_url, [executor], [engine], [action_heartbeat], "
        "[oslo_messaging_rabbit]); see etc/mistral-action-host.conf.sample.",
        epilog="example: action-executor serve --config-file /etc/mistral/mistral.conf",
    )
    serve.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="FILE",
        help="an oslo.config file (repeatable; later files win)",
    )
    serve.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory of *.conf files, read after the --config-file ones",
    )
    serve.set_defaults(func=cmd_serve)
    return serve


def load_config(config_files: list[str], config_dirs: list[str]) -> Any:
    """Parse the configuration into the global ``cfg.CONF`` and set up oslo.log.

    The global object, not a private ``ConfigOpts``: oslo.messaging's RPC
    server reads groups it registers only there.
    """
    from oslo_config import cfg
    from oslo_log import log as oslo_logging

    from executor.service import options

    conf = cfg.CONF
    oslo_logging.register_options(conf)
    options.register_opts(conf)
    argv: list[str] = []
    for path in config_files:
        argv += ["--config-file", path]
    for path in config_dirs:
        argv += ["--config-dir", path]
    conf(
        argv,
        project=options.PROJECT,
        prog="action-executor",
        default_config_files=None if not argv else [],
    )
    oslo_logging.setup(conf, "action-executor")
    return conf


def cmd_serve(args: argparse.Namespace) -> int:
    from oslo_config import cfg

    from executor.service.journal import JournalError

    try:
        conf = load_config(args.config_file, args.config_dir)
    except (cfg.Error, ValueError) as exc:
        print(f"action-executor serve: bad configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from executor.service.process import serve

    try:
        return serve(conf)
    except JournalError as exc:  # locked by another process, or not writable
        print(f"action-executor serve: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:  # option values the service cannot use
        print(f"action-executor serve: bad configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """``python -m executor.service --config-file FILE``: ``serve`` without the CLI wiring."""
    parser = argparse.ArgumentParser(prog="action-executor")
    sub = parser.add_subparsers(dest="command")
    add_serve_parser(sub)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))
