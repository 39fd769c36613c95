"""The action's Python logging, sent to the executor as ``log`` notifications."""

from __future__ import annotations

import logging
import sys
import warnings

from protocol.endpoint import Endpoint
from protocol.errors import ProtocolError
from protocol.plain import LOG


class RpcLogHandler(logging.Handler):
    """Formats each record (traceback included) and notifies the executor.

    Until a channel is attached (``endpoint`` None) records go to stderr,
    which the executor captures too.
    """

    def __init__(self, endpoint: Endpoint | None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if self.endpoint is None:
                raise ProtocolError("no channel yet")
            self.endpoint.notify(
                LOG,
                {
                    "level": record.levelno,
                    "logger": record.name,
                    "message": message,
                    "created": record.created,
                },
            )
        except ProtocolError:
            if sys.__stderr__ is not None:
                sys.__stderr__.write(f"{record.levelname} {record.name}: {record.getMessage()}\n")
        except Exception:
            self.handleError(record)


def install(endpoint: Endpoint | None, level: int = logging.INFO) -> None:
    """Route this process's logging and warnings to ``endpoint``.

    A warm template calls this with None before it forks; each child then
    only calls ``attach`` (cheaper than configuring logging in every child).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(RpcLogHandler(endpoint))
    root.setLevel(level)
    # Deprecations must reach action authors: show each once, as a log record.
    warnings.simplefilter("default")
    logging.captureWarnings(True)


def attach(endpoint: Endpoint) -> None:
    """Point the installed handler at ``endpoint`` (installing it if needed)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RpcLogHandler):
            handler.endpoint = endpoint
            return
    install(endpoint)
