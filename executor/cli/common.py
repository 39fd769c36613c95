"""What every ``action-executor`` command shares: exit codes, argument parsing, the executor."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from protocol.exit_codes import CommandExit
from protocol.suggest import did_you_mean

#: 0 success, 1 the action failed, 2 the tool refused the request (bad usage,
#: invalid parameters or context, unknown action): nothing ran.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = CommandExit.OK, CommandExit.FAILED, CommandExit.USAGE

EXIT_CODES_HELP = """exit codes:
  0  success
  1  the action failed (the Result is printed), or an environment change failed
  2  the request was refused and nothing ran: bad usage, invalid parameters or
     context, unknown action or environment"""


class UsageError(Exception):
    pass


#: A value starting with one of these is meant as JSON: it must parse.
_JSON_STARTS = ("[", "{", '"')


def parse_value(text: str, key: str = "VALUE") -> Any:
    """A value is JSON when it parses as JSON, else the string itself.

    A value that starts like a JSON list, object or string must parse: a
    truncated ``[1, 2`` is a mistake to report, not a string to pass on.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith(_JSON_STARTS):
            as_string = json.dumps(text)
            raise UsageError(
                f"the value of {key} looks like JSON but does not parse ({exc.msg} at "
                f"character {exc.pos}): fix it, or to pass it as a string quote it as "
                f"a JSON string: {key}='{as_string}'"
            ) from None
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
        params[key] = parse_value(value, key)
    return params


def parse_context(text: str | None) -> dict[str, Any] | None:
    """The ``--context`` JSON, checked here so that a mistake is a usage error
    that names the field (and never echoes a value: it may be a token)."""
    if not text:
        return None
    try:
        ctx = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--context is not valid JSON: {exc}") from None
    if not isinstance(ctx, dict):
        raise UsageError(
            '--context must be a JSON object shaped {"security": {...}, "execution": {...}}'
        )
    problem = context_problem(ctx)
    if problem:
        raise UsageError(f"--context: {problem}")
    return ctx


def context_problem(ctx: dict[str, Any]) -> str | None:
    """What is wrong with a context, in a user's words; None when it is valid."""
    from pydantic import BaseModel, ValidationError

    from protocol.messages import ActionContextModel

    try:
        ActionContextModel.model_validate(ctx)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            path = ".".join(loc)
            if error["type"] == "extra_forbidden":
                model: Any = ActionContextModel
                for part in loc[:-1]:
                    field = model.model_fields.get(part)
                    annotation = field.annotation if field else None
                    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                        break
                    model = annotation
                known = list(model.model_fields)
                problems.append(f"unknown field {path}{_did_you_mean(loc[-1], known)}")
            else:  # pydantic's message without the input: it may be a secret
                problems.append(f"field {path}: {error['msg']}")
        return "; ".join(problems)
    return None


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    """The nearest field, or all of them when none is near."""
    return did_you_mean(name, known, prefixes=True) or f" (known: {', '.join(known)})"


class _ActionLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return (
            "\n".join(f"[{record.name}] {line}" for line in text.splitlines()) or f"[{record.name}]"
        )


_RAISED = re.compile(r"^action (?P<label>\S+) raised (?P<type>\S*ActionException)\n")


class _ExpectedFailureFilter(logging.Filter):
    """An ``ActionException`` is an action saying "this failed", not a bug:
    show its message, not the 14-line traceback the host logs (``-v`` does)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("action."):
            return True
        text = record.getMessage()
        match = _RAISED.match(text)
        if match and "Traceback (most recent call last):" in text:
            lines = text.splitlines()
            head = f"{match['type']}:"
            starts = [i for i, line in enumerate(lines) if line.startswith(head)]
            message = (
                "\n".join(lines[starts[-1] :])[len(head) :].strip() if starts else match["type"]
            )
            record.msg = f"action {match['label']} failed: {message} (-v shows the traceback)"
            record.args = ()
        return True


def setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ActionLogFormatter("%(message)s"))
    if not verbose:
        handler.addFilter(_ExpectedFailureFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("action").setLevel(logging.DEBUG)
    if verbose:
        root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def exit_code(result: Any) -> int:
    return exit_code_of(result.is_success(), result.error_type)


def exit_code_of(success: bool, error_type: str | None) -> int:
    """0 success; 2 when the executor refused the request before anything ran
    (invalid input or context, unknown action); 1 for any other failure."""
    from executor.errors import ErrorKind

    if success:
        return EXIT_OK
    refused = {ErrorKind.INVALID_INPUT, ErrorKind.INVALID_CONTEXT, ErrorKind.ACTION_NOT_FOUND}
    return EXIT_USAGE if error_type in refused else EXIT_FAILED


def make_executor(args: argparse.Namespace) -> Any:
    from executor.config import ExecutorConfig
    from executor.executor import Executor

    files = getattr(args, "config_file", None)
    config = file_config(files) if files else ExecutorConfig()
    if args.state_dir:
        config.state_dir = args.state_dir
    if getattr(args, "launcher", None):
        config.launcher = args.launcher
    if files:  # the file's action option groups reach the hosts as serve's do
        from executor.service.settings import with_action_config

        config = with_action_config(config, "cli")
    return Executor(config)


def read_conf(paths: Sequence[str], dirs: Sequence[str] = ()) -> Any:
    """The configuration files (then the directories' ``*.conf``; later files
    win), read as ``serve`` reads them, into a private ConfigOpts (this
    process serves nothing)."""
    from oslo_config import cfg

    from executor.service import options

    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"--config-file {path}: no such file")
    for path in dirs:
        if not os.path.isdir(path):
            raise UsageError(f"--config-dir {path}: no such directory")
    conf = cfg.ConfigOpts()
    options.register_opts(conf)
    argv = [arg for path in paths for arg in ("--config-file", path)]
    argv += [arg for path in dirs for arg in ("--config-dir", path)]
    try:
        conf(
            argv,
            project=options.PROJECT,
            prog="action-executor",
            default_config_files=[],
            default_config_dirs=[],
        )
    except (cfg.Error, ValueError) as exc:
        raise UsageError(f"{' '.join(argv)}: {exc}") from None
    return conf


def file_config(paths: Sequence[str]) -> Any:
    """``ExecutorConfig`` from configuration files, as ``serve`` builds it."""
    from oslo_config import cfg

    from executor.service import settings

    conf = read_conf(paths)
    try:
        return settings.executor_config(conf)
    except (cfg.Error, ValueError) as exc:
        raise UsageError(f"--config-file {' '.join(paths)}: {exc}") from None


def help_without_subcommand(parser: argparse.ArgumentParser) -> None:
    """A command group run without its subcommand prints its help (exit 2)."""

    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    parser.set_defaults(func=usage)


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
