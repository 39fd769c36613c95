"""``action-executor actions``: the actions the executor can run."""

from __future__ import annotations

import argparse
import json
from typing import Any

from executor.cli.common import EXIT_OK, make_executor


def cmd_actions(args: argparse.Namespace) -> int:
    with make_executor(args) as executor:
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


def add_actions_parser(sub: Any) -> argparse.ArgumentParser:
    actions = sub.add_parser(
        "actions",
        help="list the available actions with their parameters",
        description="List the actions the executor can run, with their parameters.",
    )
    actions.add_argument("--json", action="store_true", help="print JSON")
    actions.add_argument("--refresh", action="store_true", help="re-scan the environments")
    actions.set_defaults(func=cmd_actions)
    return actions
