"""``Result``: what ``Executor.run`` returns, exactly once per request."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from executor.errors import ErrorKind


@dataclass
class Result:
    """mistral-lib's (data, error, cancel) plus what the executor saw.

    ``error_type`` is an ``ErrorKind`` (see ``executor.errors`` for the table)
    whenever the run failed; ``exception`` names the exception type when the
    action raised. ``timings`` holds seconds per phase: ``queue_wait``,
    ``host_start``, ``load`` and ``run`` (inside the host), ``transfer``
    (protocol and hand-over) and ``total``.

    ``peak_memory`` (bytes) and ``cpu_time`` (seconds) are what the action's
    processes used, from its own cgroup; None where the sandbox has none.

    ``logs`` holds the action's output lines (stdout, stderr, log records), at
    most ``max_log_bytes`` of them and ``max_log_line_bytes`` per line.
    ``logs_dropped`` counts the lines left out and ``logs_dropped_bytes`` the
    bytes of output missing from ``logs`` (those lines plus the cut ends of
    long lines); when either is set, the last line of ``logs`` says so.
    """

    data: Any = None
    error: Any = None
    cancel: bool = False
    action: str = ""
    error_type: ErrorKind | None = None
    exception: str | None = None
    is_sync: bool = True
    host_pid: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory: int | None = None
    cpu_time: float | None = None
    logs: list[str] = field(default_factory=list)
    logs_dropped: int = 0
    logs_dropped_bytes: int = 0

    def is_cancel(self) -> bool:
        return self.cancel

    def is_error(self) -> bool:
        return self.error is not None and not self.cancel

    def is_success(self) -> bool:
        return not self.is_error() and not self.is_cancel()

    def to_dict(self) -> dict[str, Any]:
        """What Mistral stores as the action's output."""
        return {"result": self.data} if self.is_success() else {"result": self.error}

    def as_json_dict(self, environment: str | None = None) -> dict[str, Any]:
        """The Result as JSON-able data (what ``action-executor run`` prints):
        the API's field names, ``timings`` in seconds, plus ``environment`` (the
        one that ran the action) when given."""
        out: dict[str, Any] = {"action": self.action}
        if environment:
            out["environment"] = environment
        out["success"] = self.is_success()
        out["is_sync"] = self.is_sync
        if self.is_success():
            out["data"] = self.data
        else:
            out["error"] = self.error
            if self.error_type:
                out["error_type"] = str(self.error_type)
            if self.exception:
                out["exception"] = self.exception
        if self.cancel:
            out["cancel"] = True
        out["timings"] = {k: round(v, 6) for k, v in self.timings.items()}
        if self.peak_memory is not None or self.cpu_time is not None:
            out["usage"] = {"peak_memory": self.peak_memory, "cpu_time": self.cpu_time}
        if self.logs_dropped:
            out["logs_dropped"] = self.logs_dropped
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_json_dict(), indent=indent, default=json_default)


def json_default(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def limit_error(result: Result, max_bytes: int) -> None:
    """Cut an error text longer than ``max_bytes`` (UTF-8), saying so.

    The host already does this (``actions_api.outcome.limit_error_text``);
    this is the executor's own guard against a host that does not.
    """
    text = result.error
    if not isinstance(text, str) or len(text) * 4 <= max_bytes:
        return
    size = len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
    if size <= max_bytes:
        return
    marker = (
        f" [... error text cut: it was {size} bytes, more than the limit of "
        f"{max_bytes} bytes (max_result_size)]"
    )
    room = max(0, max_bytes - len(marker))
    result.error = text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore") + marker


def error_result(action: str, message: str, kind: ErrorKind, **extra: Any) -> Result:
    """A Result for a run the executor ended itself (the action never answered)."""
    return Result(action=action, error=message, error_type=kind, **extra)
