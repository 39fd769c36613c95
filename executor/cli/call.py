"""``action-executor call``: run one action on a running ``serve``, over the
broker, the way Mistral's engine sends it, and print its Result as ``run``
does.

The action goes out on Mistral's ``run_action``, by its registered name with
its parameters (an argument Mistral's engine never sends: it sends a class
and its instance's attributes), so that ``call`` takes what ``run`` takes.
``serve`` answers a call with mistral-lib's Result (data, error, cancel)
and, for ``call`` only, the ErrorKind that ended it: a refusal before
anything ran (invalid input, unknown action) exits 2, as ``run`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any

from executor.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    UsageError,
    exit_code_of,
    parse_params,
    read_conf,
)
from executor.cli.run import add_action_arguments, read_context

#: What the systemd unit's serve reads (etc/systemd/action-executor.service).
DEFAULT_CONFIG = "/etc/mistral/mistral.conf"
DEFAULT_CONFIG_DIR = "/etc/mistral-action-host/conf.d"


def cmd_call(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():  # oslo's imports warn of eventlet: not the user's concern
        warnings.simplefilter("ignore")
        from executor.service.client import ExecutorClient, NoExecutorAnswered

    params = parse_params(args.params, args.params_json)
    context = read_context(args.context)
    files, dirs = args.config_file or [], args.config_dir or []
    if not (files or dirs):  # the unit's, where they are
        files = [DEFAULT_CONFIG] if os.path.isfile(DEFAULT_CONFIG) else []
        dirs = [DEFAULT_CONFIG_DIR] if os.path.isdir(DEFAULT_CONFIG_DIR) else []
    conf = read_conf(files, dirs)
    url = args.transport_url or conf.transport_url
    if not url:
        raise UsageError(
            "no broker: give --config-file with [DEFAULT] transport_url (the file serve "
            "reads), or --transport-url rabbit://USER:PASSWORD@HOST:5672/VHOST"
        )
    topic = args.topic or conf.executor.topic
    timeout = int(args.timeout or conf.rpc_response_timeout)
    target = f"topic {topic!r}" + (f", host {args.host!r}" if args.host else "")
    with ExecutorClient(
        url, topic=topic, control_exchange=conf.control_exchange, timeout=timeout
    ) as client:
        try:
            result = client.run_action(
                args.action,
                params=params,
                host=args.host,
                wait=True,
                exec_ctx=context.get("execution") if context else None,
            )
        except NoExecutorAnswered:
            print(
                f"action-executor: error: no executor answered on {target} within "
                f"{timeout} s; is 'action-executor serve' running with the same "
                "transport_url, [executor] topic (and host)? (--timeout S waits longer)",
                file=sys.stderr,
            )
            return EXIT_FAILED
    assert result is not None  # a call without an action_ex_id is answered
    out: dict[str, Any] = {"action": args.action, "success": not result.is_error()}
    out.update({"data": result.data} if not result.is_error() else {"error": result.error})
    if result.is_error() and result.kind:
        out["error_type"] = result.kind
    if result.cancel:
        out["cancel"] = True
    print(json.dumps(out, indent=2, default=str))
    return exit_code_of(not result.is_error(), result.kind)


def add_call_parser(sub: Any) -> argparse.ArgumentParser:
    call: argparse.ArgumentParser = sub.add_parser(
        "call",
        help="run one action on a running 'action-executor serve' (over the broker)",
        description="Run one action on a running 'action-executor serve', sent as "
        "Mistral's engine sends it (run_action on the executor topic, or on one "
        "executor with --host), and print its Result as JSON.",
        epilog="example: action-executor call std.echo output=hello "
        "--config-file /etc/mistral/mistral.conf\n\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_action_arguments(call)
    call.add_argument(
        "--context",
        metavar="JSON|@FILE|-",
        help='the action context\'s execution part, {"execution": {...}}, read as run '
        "reads --context",
    )
    call.add_argument(
        "--config-file",
        action="append",
        metavar="FILE",
        help=f"the configuration serve reads (repeatable; default: {DEFAULT_CONFIG} and "
        f"{DEFAULT_CONFIG_DIR}, the unit's, where they exist): [DEFAULT] transport_url, "
        "control_exchange, rpc_response_timeout, [executor] topic",
    )
    call.add_argument(
        "--config-dir",
        action="append",
        metavar="DIR",
        help="a directory of *.conf files read after the files, as serve's --config-dir "
        "(repeatable)",
    )
    call.add_argument("--transport-url", help="the broker, instead of the file's")
    call.add_argument("--topic", help="the executors' topic (default: [executor] topic)")
    call.add_argument("--host", help="run it on this executor only ([executor] host)")
    call.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds to wait for the Result (default: rpc_response_timeout)",
    )
    call.set_defaults(func=cmd_call)
    return call
