"""The action's Python logging, sent to the executor as ``log`` notifications."""

from __future__ import annotations

import logging
import sys
import warnings

from protocol.endpoint import Endpoint
from protocol.errors import ProtocolError
from protocol.messages import LogParams
from protocol.methods import LOG


class RpcLogHandler(logging.Handler):
    """Formats each record (traceback included) and notifies the executor."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            self.endpoint.notify(
                LOG,
                LogParams(
                    level=record.levelno,
                    logger=record.name,
                    message=message,
                    created=record.created,
                ),
            )
        except ProtocolError:
            sys.__stderr__.write(f"{record.levelname} {record.name}: {record.getMessage()}\n")
        except Exception:
            self.handleError(record)


def install(endpoint: Endpoint, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(RpcLogHandler(endpoint))
    root.setLevel(level)
    # Deprecations must reach action authors: show each once, as a log record.
    warnings.simplefilter("default")
    logging.captureWarnings(True)
