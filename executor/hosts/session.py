"""One conversation with one host: handshake, run, logs, deadline, crash report.

The calling thread drives the conversation itself: it multiplexes the host's
protocol channel with its stdout/stderr pipes in one ``poll`` loop, so a
run costs no extra threads. The host's output is split into lines of at most
``max_line_bytes`` (the rest of a longer line is counted, never buffered), so
what the executor holds per host is bounded and reading is linear in the
output, whatever its shape. Every way a conversation can end maps to exactly
one outcome: the host's answer, a timeout (soft cancel, then SIGKILL of the
host's process group), or a failure naming the exit status and the last
lines the host printed.
"""

from __future__ import annotations

import collections
import enum
import logging
import os
import select
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from executor.config import ExecutorConfig
from executor.deadline import Deadline
from executor.errors import ErrorKind, ExecutorError
from executor.hosts.process import HostProcess, describe_returncode
from executor.hosts.states import HostState
from protocol import PROTOCOL_VERSION, RUNTIME_VERSION
from protocol.endpoint import Endpoint
from protocol.errors import ChannelClosed, ProtocolError, RpcError
from protocol.handlers import Handlers
from protocol.messages import (
    ActionOutcome,
    CancelParams,
    InitializeParams,
    InitializeResult,
    RunActionParams,
)
from protocol.methods import CANCEL, INITIALIZE, RUN_ACTION
from protocol.transport import SocketTransport

#: ``sink(level, source, line, cut)``: one line of output, ``cut`` bytes of it dropped.
LogSinkT = Callable[[int, str, str, int], None]
_TAIL_LINES = 20
#: Longest line quoted in a crash report (the tail), in characters.
_TAIL_LINE_CHARS = 1024
_READ_SIZE = 65536
#: Longest line of a host's output passed on (``ExecutorConfig.max_log_line_bytes``).
DEFAULT_MAX_LINE_BYTES = ExecutorConfig.max_log_line_bytes
#: After ``drain_output``'s wait, how long it may go on reading a host that
#: keeps printing (a flood must not hold the run's answer back).
_DRAIN_SLACK = 0.1

EXECUTOR_CAPABILITIES = ["reuse", "log", "$/cancel"]


def initialize_params(max_frame_size: int) -> InitializeParams:
    """What the executor says of itself in every handshake."""
    return InitializeParams(
        protocol_version=PROTOCOL_VERSION,
        runtime_version=RUNTIME_VERSION,
        capabilities=EXECUTOR_CAPABILITIES,
        executor_pid=os.getpid(),
        max_frame_size=max_frame_size,
    )


def _discard(level: int, source: str, message: str, cut: int = 0) -> None:
    pass


class Failure(enum.Enum):
    """How a conversation ended without the host's answer."""

    CRASHED = "crashed"  # the channel closed: the host died
    TIMEOUT = "timeout"  # the deadline passed; the host was killed
    PROTOCOL = "protocol"  # the host sent something that breaks the protocol


_FAILURE_KINDS = {
    Failure.CRASHED: ErrorKind.HOST_CRASHED,
    Failure.TIMEOUT: ErrorKind.TIMEOUT,
    Failure.PROTOCOL: ErrorKind.PROTOCOL_ERROR,
}


class SessionFailed(ExecutorError):
    """The host did not answer; ``failure`` says how, and so which kind of
    error its run ends with (a handshake that fails is a start failure, which
    the run pipeline decides: the kind here is for a run in progress)."""

    def __init__(self, failure: Failure, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.returncode = returncode
        self.kind = _FAILURE_KINDS[failure]


@dataclass
class _Stream:
    """One output pipe of the host, split into lines of at most ``limit`` bytes.

    The unfinished line is a bytearray of at most ``limit`` bytes; what a
    line has past that is only counted (``cut``). So a stream holds at most
    ``limit`` bytes, and each byte read is looked at a bounded number of
    times: 100 MiB without a newline cost what 100 MiB of short lines cost.
    """

    fd: int
    name: str
    level: int
    limit: int = DEFAULT_MAX_LINE_BYTES
    partial: bytearray = field(default_factory=bytearray)
    cut: int = 0
    open: bool = True

    def _extend(self, piece: bytes) -> None:
        room = self.limit - len(self.partial)
        if len(piece) <= room:
            self.partial += piece
        else:
            if room > 0:
                self.partial += piece[:room]
            self.cut += len(piece) - max(room, 0)

    def _line(self) -> tuple[bytes, int]:
        line = (bytes(self.partial), self.cut)
        self.partial.clear()
        self.cut = 0
        return line

    def feed(self, data: bytes) -> list[tuple[bytes, int]]:
        """The lines ``data`` completes, each with the number of bytes cut from it."""
        *complete, rest = data.split(b"\n")
        lines = []
        if complete:
            self._extend(complete[0])
            lines.append(self._line())
            limit = self.limit
            for piece in complete[1:]:
                if len(piece) <= limit:
                    lines.append((piece, 0))
                else:
                    lines.append((piece[:limit], len(piece) - limit))
        self._extend(rest)
        return lines

    def end(self) -> tuple[bytes, int] | None:
        """End of stream: the last line, if it had no newline."""
        if not self.partial and not self.cut:
            return None
        return self._line()


class HostSession:
    """A host and the conversation with it.

    A session can be prepared ahead of demand (host started, handshake done)
    and bound to a run later with ``bind``: that is how the fork launcher
    keeps spare children ready.
    """

    def __init__(
        self,
        host: HostProcess,
        *,
        handlers: Handlers[Any],
        max_frame_size: int,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.host = host
        self.transport = SocketTransport(host.channel, f"action host pid {host.pid}")
        self.endpoint = Endpoint(
            self.transport,
            handlers,
            max_frame_size=max_frame_size,
            name=f"action host pid {host.pid}",
        )
        self._log_sink: LogSinkT = _discard
        self.info: InitializeResult | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._streams = [
            _Stream(host.stdout, "stdout", logging.INFO, max_line_bytes),
            _Stream(host.stderr, "stderr", logging.WARNING, max_line_bytes),
        ]
        self._poll = select.poll()
        self._poll.register(host.channel, select.POLLIN)
        for stream in self._streams:
            os.set_blocking(stream.fd, False)
            self._poll.register(stream.fd, select.POLLIN)
        self._by_fd = {s.fd: s for s in self._streams}

    def bind(self, context: Any, log_sink: LogSinkT) -> None:
        """Attach the run this host serves: its calls back and its logs go there."""
        self.endpoint.context = context
        self._log_sink = log_sink
        self.host.lifecycle.change(HostState.RUNNING)

    def release(self) -> None:
        self.host.release()

    # -- output ------------------------------------------------------------------

    def log(self, level: int, source: str, message: str, cut: int = 0) -> None:
        """One line of output (``cut`` bytes of it dropped): to the tail and the run."""
        if len(message) > _TAIL_LINE_CHARS:
            self.tail.append(message[:_TAIL_LINE_CHARS] + " [...]")
        else:
            self.tail.append(message if not cut else message + " [...]")
        self._log_sink(level, source, message, cut)

    def _emit(self, stream: _Stream, line: bytes, cut: int) -> None:
        text = line.decode(errors="replace")
        self.log(stream.level, stream.name, text if cut else text.rstrip("\r"), cut)

    def _read_stream(self, stream: _Stream) -> None:
        try:
            data = os.read(stream.fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            stream.open = False
            self._poll.unregister(stream.fd)
            last = stream.end()
            if last is not None:
                self._emit(stream, *last)
            return
        for line, cut in stream.feed(data):
            self._emit(stream, line, cut)

    def drain_output(self, wait: float = 0.0) -> None:
        """Read what the host printed; with ``wait``, until EOF or that long.

        A host that keeps printing is read for at most ``_DRAIN_SLACK``
        seconds past ``wait``: its output is bounded, and so is this. The
        run is over then, so a last line without a newline is passed on too.
        """
        now = time.monotonic()
        end, stop = now + wait, now + wait + _DRAIN_SLACK
        while any(stream.open for stream in self._streams):
            now = time.monotonic()
            if now >= stop:
                break
            remaining = max(0.0, end - now)
            ready = [fd for fd, _ in self._poll.poll(remaining * 1000) if fd in self._by_fd]
            if not ready:
                break
            for fd in ready:
                self._read_stream(self._by_fd[fd])
        for stream in self._streams:
            last = stream.end()
            if last is not None:
                self._emit(stream, *last)

    # -- driving calls -----------------------------------------------------------

    def _wait(self, future: Future[Any], deadline: Deadline) -> bool:
        """Service the host until ``future`` is done (True) or the deadline (False)."""
        channel_fd = self.transport.fileno()
        while not future.done():
            if deadline.expired():
                return False
            for fd, _event in self._poll.poll(deadline.poll_ms()):
                if fd == channel_fd:
                    data = self.transport.receive()
                    if not data:
                        self._poll.unregister(channel_fd)
                    self.endpoint.feed(data)  # ProtocolError ends the conversation
                else:
                    self._read_stream(self._by_fd[fd])
        return True

    def _crash(self, error: ProtocolError) -> SessionFailed:
        if isinstance(error, ChannelClosed):
            returncode = self.host.wait(2.0)
            self.drain_output(wait=0.5)
            status = describe_returncode(returncode)
            if self.host.lifecycle.state is HostState.LOST:
                status += " (its template died, and its children die with it)"
            what = f"action host (pid {self.host.pid}) {status} before answering"
            return SessionFailed(Failure.CRASHED, self._with_tail(what), returncode)
        self.host.kill()
        returncode = self.host.wait(2.0)
        self.drain_output(wait=0.5)
        what = f"action host (pid {self.host.pid}) broke the protocol: {error}"
        return SessionFailed(Failure.PROTOCOL, self._with_tail(what), returncode)

    def _with_tail(self, message: str) -> str:
        if not self.tail:
            return message + " (it printed nothing)"
        return message + "; last output:\n  " + "\n  ".join(self.tail)

    def handshake(self, deadline: Deadline) -> InitializeResult:
        future = self.endpoint.call(INITIALIZE, initialize_params(self.endpoint.max_frame_size))
        try:
            if not self._wait(future, deadline):
                self.host.kill()
                raise SessionFailed(
                    Failure.TIMEOUT, "action host did not answer the handshake in time"
                )
            self.info = future.result()
        except ProtocolError as exc:
            raise self._crash(exc) from None
        self.host.lifecycle.change(HostState.READY)
        return self.info

    def run(
        self, params: RunActionParams, deadline: Deadline, cancel_grace: float
    ) -> ActionOutcome:
        """Run the action; raises SessionFailed, or RpcError for refused calls."""
        future = self.endpoint.call(RUN_ACTION, params)
        try:
            if not self._wait(future, deadline):
                self._cancel(future, cancel_grace)
            outcome = future.result()
        except ProtocolError as exc:
            raise self._crash(exc) from None
        except RpcError:
            raise
        self.drain_output()
        return outcome

    def _cancel(self, future: Future[Any], grace: float) -> None:
        try:
            self.endpoint.notify(CANCEL, CancelParams(reason="deadline exceeded"))
        except ProtocolError:
            pass
        try:
            if grace > 0 and self._wait(future, Deadline.after(grace)):
                return
        except ProtocolError:
            pass
        self.host.kill()
        returncode = self.host.wait(2.0)
        self.drain_output(wait=0.2)
        raise SessionFailed(
            Failure.TIMEOUT,
            f"its host (pid {self.host.pid}) and every process it started were killed",
            returncode,
        )
