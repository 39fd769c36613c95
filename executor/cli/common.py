"""What every ``action-executor`` command shares: exit codes, argument parsing, the executor."""

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


def setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ActionLogFormatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("action").setLevel(logging.DEBUG)
    if verbose:
        root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def make_executor(args: argparse.Namespace) -> Any:
    from executor.config import ExecutorConfig
    from executor.executor import Executor

    config = ExecutorConfig()
    if args.state_dir:
        config.state_dir = args.state_dir
    if getattr(args, "launcher", None):
        config.launcher = args.launcher
    return Executor(config)


def progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def uv_args(args: argparse.Namespace) -> list[str]:
    extra = []
    if getattr(args, "offline", False):
        extra.append("--offline")
    for link in getattr(args, "find_links", None) or []:
        extra += ["--find-links", os.path.abspath(link) if os.path.exists(link) else link]
    if getattr(args, "index_url", None):
        extra += ["--index-url", args.index_url]
    return extra


def state_dir(args: argparse.Namespace) -> str:
    from executor.config import default_state_dir

    return args.state_dir or default_state_dir()
