"""What one run printed and logged, kept within bounds the action cannot move.

An action's output reaches the executor two ways: lines its host printed on
stdout/stderr (split by ``HostSession``, which already cuts each line to
``max_log_line_bytes``) and ``log`` notifications from its Python logging.
Both go through ``RunOutput.add``, which enforces three limits so one action
cannot inflate the executor's memory or flood its log:

* a line longer than ``line_bytes`` keeps its first ``line_bytes`` bytes and
  says how many were dropped;
* ``Result.logs`` keeps the run's first ``run_bytes`` bytes of lines; the
  lines after that are only counted (``Result.logs_dropped`` and
  ``logs_dropped_bytes``, and a last line in ``Result.logs`` saying so);
* lines reach the executor's own log (logger ``action.<name>``) through a
  token bucket, ``log_rate`` lines a second with bursts of ``log_burst``;
  the rest are counted and reported in one record when the run ends.

Lines that are neither kept nor logged are not even redacted: a flood costs a
few counter updates per line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from executor.config import ExecutorConfig


def byte_size(text: str) -> int:
    """UTF-8 size of ``text`` (``isascii`` is O(1), so ASCII costs nothing)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def cut_text(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to at most ``limit`` UTF-8 bytes, and how many bytes were dropped."""
    size = byte_size(text)
    if size <= limit:
        return text, 0
    if text.isascii():
        return text[:limit], size - limit
    kept = text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")
    return kept, size - byte_size(kept)


def cut_marker(dropped: int) -> str:
    """What ends a line that was cut."""
    return f" [... {dropped} more bytes of this line dropped]"


@dataclass(frozen=True)
class OutputLimits:
    """The bounds of one run's output; see the module docstring."""

    line_bytes: int = ExecutorConfig.max_log_line_bytes
    run_bytes: int = ExecutorConfig.max_log_bytes
    log_rate: float = ExecutorConfig.log_rate
    log_burst: int = ExecutorConfig.log_burst

    @classmethod
    def of(cls, config: ExecutorConfig) -> OutputLimits:
        return cls(
            line_bytes=config.max_log_line_bytes,
            run_bytes=config.max_log_bytes,
            log_rate=config.log_rate,
            log_burst=config.log_burst,
        )


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


class RunOutput:
    """The lines one run keeps, what it dropped, and its share of the executor's log.

    Used from the thread that drives the run's conversation only (output and
    ``log`` notifications are both read there), so it takes no lock.
    """

    def __init__(self, limits: OutputLimits | None = None) -> None:
        self.limits = limits or OutputLimits()
        #: The lines kept for ``Result.logs`` (redacted).
        self.lines: list[str] = []
        self.kept_bytes = 0
        #: Lines not kept in ``lines``, and their bytes plus the cut ends of long lines.
        self.dropped_lines = 0
        self.dropped_bytes = 0
        #: Lines kept but cut to ``line_bytes``, and the bytes cut from them.
        self.cut_lines = 0
        self.cut_bytes = 0
        #: Lines not copied to the executor's log (over the rate), and their bytes.
        self.unlogged_lines = 0
        self.unlogged_bytes = 0
        self._full = False
        self._tokens = float(self.limits.log_burst)
        self._refilled = time.monotonic()
        self._logger: logging.Logger | None = None

    def _logger_for(self, action: str) -> logging.Logger:
        name = f"action.{action}"
        if self._logger is None or self._logger.name != name:
            self._logger = logging.getLogger(name)
        return self._logger

    def _take_token(self) -> bool:
        now = time.monotonic()
        limits = self.limits
        self._tokens = min(
            float(limits.log_burst), self._tokens + (now - self._refilled) * limits.log_rate
        )
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def add(
        self,
        action: str,
        level: int,
        message: str,
        redact: Callable[[str], str],
        cut: int = 0,
    ) -> None:
        """One line of output; ``cut`` bytes of it were already dropped by the reader."""
        limits = self.limits
        message, more = cut_text(message, limits.line_bytes)
        size = byte_size(message)
        cut += more
        if cut:
            message += cut_marker(cut)
        keep = not self._full and self.kept_bytes + size <= limits.run_bytes
        if not keep:
            self._full = True
            self.dropped_lines += 1
        elif cut:
            self.cut_lines += 1
            self.cut_bytes += cut
        self.dropped_bytes += cut if keep else size + cut
        logger = self._logger_for(action)
        log = logger.isEnabledFor(level)
        if log and not self._take_token():
            log = False
            self.unlogged_lines += 1
            self.unlogged_bytes += size + cut
        if not (keep or log):
            return
        message = redact(message)
        if keep:
            self.lines.append(message)
            self.kept_bytes += size
        if log:
            logger.log(level, "%s", message)

    def summary(self) -> str | None:
        """The last line of ``Result.logs`` when something was dropped or cut; else None."""
        if not (self.dropped_lines or self.cut_lines):
            return None
        limits = self.limits
        parts = []
        if self.dropped_lines:
            parts.append(
                f"{_lines(self.dropped_lines)} ({self.dropped_bytes - self.cut_bytes} bytes) "
                "of output dropped"
            )
        if self.cut_lines:
            parts.append(
                f"{_lines(self.cut_lines)} longer than {limits.line_bytes} bytes cut "
                f"({self.cut_bytes} bytes dropped)"
            )
        return (
            f"[output limit: {'; '.join(parts)}. A run keeps {limits.run_bytes} bytes of "
            f"output (max_log_bytes), {limits.line_bytes} bytes per line (max_log_line_bytes)]"
        )

    def finish(self, action: str) -> None:
        """The run ended: say what was dropped, in the logs and in the executor's log."""
        summary = self.summary()
        if summary is not None:
            self.lines.append(summary)
        if self.unlogged_lines:
            self._logger_for(action).warning(
                "%d lines (%d bytes) of this run's output were not copied to this log: "
                "more than %g lines a second (log_rate, bursts of log_burst=%d)%s",
                self.unlogged_lines,
                self.unlogged_bytes,
                self.limits.log_rate,
                self.limits.log_burst,
                "; the Result's logs hold them" if not self.dropped_lines else "",
            )
