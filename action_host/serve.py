"""Serving one executor conversation on a private descriptor, then exiting.

The process ends when the executor closes the channel (after it has the
result), so the exit and its teardown happen off the executor's response path.
The function never returns: it ends in ``os._exit`` with an ``ExitCode``.

Before it reads anything a host that will wait for its request (a spare)
*rehearses* the request path once: a
synthetic ``action.run`` of a no-op action goes through dispatch, validation,
the runner and encoding, and its answer is dropped. In a child forked from a
warm template this takes the copy-on-write page faults and cold caches of that
path now, while the child waits as a spare, instead of on the first real
request (measured: 123 faults and 1.3 ms become 25 faults and 0.8 ms).
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from actions_api import Action
from protocol.endpoint import Endpoint
from protocol.errors import ChannelClosed, ProtocolError
from protocol.exit_codes import ExitCode
from protocol.framing import pack
from protocol.plain import RUN_ACTION
from protocol.transport import SocketTransport, serve_forever

from . import logs
from .discovery import Catalog
from .handlers import HostContext, handlers


class Worker:
    """One thread, started before any request, that runs the action.

    The reading thread stays free for cancels and for the answers to the
    action's own calls; starting the thread early keeps its cost (about
    0.5 ms in a fresh child) off the request path.
    """

    def __init__(self, transport: SocketTransport) -> None:
        self._transport = transport
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="action-worker", daemon=True).start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _loop(self) -> None:
        while True:
            self._jobs.get()()
            if self._transport.broken:
                # The answer could not be sent: the action closed or damaged the
                # channel. The reading thread may never notice (a recv blocked on
                # a closed descriptor is not woken), so end the process now: the
                # executor sees the channel close and reports this exit code.
                os.write(2, b"action-host: cannot answer the executor: the channel is broken\n")
                os._exit(ExitCode.PROTOCOL_ERROR)


class Rehearsal(Action):
    def run(self, context: Any) -> None:
        return None


def rehearse() -> None:
    """Exercise the request path once; see the module docstring."""
    state = HostContext(catalog=Catalog(classes={"$rehearsal": Rehearsal}))
    message = {
        "jsonrpc": "2.0",
        "method": RUN_ACTION.name,
        "params": RUN_ACTION.check_params({"action": "$rehearsal"}),
        "id": 0,
    }
    response = handlers.dispatch(message, state)
    pack(response or {})


def serve(channel_fd: int, state: HostContext | None = None, *, rehearsal: bool = True) -> NoReturn:
    code = ExitCode.INTERNAL_ERROR
    try:
        transport = SocketTransport(socket.socket(fileno=channel_fd), "executor")
        worker = Worker(transport)
        state = state or HostContext()
        endpoint = Endpoint(
            transport,
            handlers,
            context=state,
            name="executor",
            background=worker.submit,
            max_frame_size=state.max_frame_size,
        )
        state.endpoint = endpoint
        logs.attach(endpoint)
        if rehearsal:
            rehearse()
        try:
            serve_forever(endpoint, transport)
            code = ExitCode.OK
        except ChannelClosed:
            code = ExitCode.OK
        except ProtocolError as exc:
            sys.stderr.write(f"action-host: protocol error, exiting: {exc}\n")
            code = ExitCode.PROTOCOL_ERROR
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)
