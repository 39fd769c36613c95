"""Serving one executor conversation on a private descriptor, then exiting.

The process ends when the executor closes the channel (after it has the
result), so the exit and its teardown happen off the executor's response path.
The function never returns: it ends in ``os._exit`` with an ``ExitCode``.
"""

from __future__ import annotations

import enum
import os
import socket
import sys
import traceback
from typing import NoReturn

from protocol.endpoint import Endpoint
from protocol.errors import ChannelClosed, ProtocolError

from . import logs
from .handlers import HostState, handlers


class ExitCode(enum.IntEnum):
    OK = 0
    PROTOCOL_ERROR = 70
    INTERNAL_ERROR = 71


def serve(channel_fd: int, state: HostState | None = None) -> NoReturn:
    code = ExitCode.INTERNAL_ERROR
    try:
        sock = socket.socket(fileno=channel_fd)
        endpoint = Endpoint(sock, handlers, context=state or HostState(), name="executor")
        logs.install(endpoint)
        try:
            endpoint.serve_forever()
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
