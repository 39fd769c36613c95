"""Actions that attack the executor from inside a host: its channel, its memory, its log.

The channel to the executor is a private descriptor of the host, but nothing
hides it from code running there: ``/proc/self/fd`` lists it as a socket. These
actions write on it directly (as a compromised or buggy action could) or
flood the host's stdout and stderr, so the tests can check that the executor
still returns exactly one Result and stays within its bounds.
"""

import logging
import os
import struct
import time

import msgpack

from actions_api import Action

#: Malformed JSON-RPC messages a host could send, by name. Each is a well-framed
#: msgpack map (or, for the last ones, a broken body) that used to escape the
#: executor's endpoint as a TypeError or AttributeError, or that breaks a rule
#: of the protocol's envelope.
MALFORMED = {
    "response_id_is_a_list": {"jsonrpc": "2.0", "result": 1, "id": [1]},
    "response_id_is_a_map": {"jsonrpc": "2.0", "result": 1, "id": {"a": 1}},
    "error_is_a_string": {"jsonrpc": "2.0", "error": "boom", "id": 1},
    "error_code_is_a_list": {"jsonrpc": "2.0", "error": {"code": [1], "message": "m"}, "id": 1},
    "error_message_is_a_map": {"jsonrpc": "2.0", "error": {"code": 1, "message": {}}, "id": 1},
    "method_is_a_list": {"jsonrpc": "2.0", "method": [1], "params": {}},
    "method_is_a_map": {"jsonrpc": "2.0", "method": {"x": 1}, "params": {}, "id": 5},
    "int_key": {"jsonrpc": "2.0", "method": "log", 1: 2},
    "bytes_key": {"jsonrpc": "2.0", "method": "log", b"k": 2},
    "params_is_a_list": {"jsonrpc": "2.0", "method": "log", "params": [20, "x", "y", 0.0]},
    "params_key_is_bytes": {"jsonrpc": "2.0", "method": "log", "params": {b"level": 20}},
    "request_id_is_a_list": {"jsonrpc": "2.0", "method": "action.reuse", "params": {}, "id": []},
    "neither_request_nor_response": {"jsonrpc": "2.0", "id": 1},
    "both_result_and_error": {
        "jsonrpc": "2.0",
        "result": 1,
        "error": {"code": 1, "message": "m"},
        "id": 1,
    },
    "not_jsonrpc_2": {"jsonrpc": "1.0", "result": 1, "id": 1},
    "unknown_member": {"jsonrpc": "2.0", "result": 1, "id": 1, "extra": True},
}

#: Well-formed responses to the executor's own ``action.run`` call whose result
#: is not an ``ActionOutcome``. The call's id is 1 for a forked host and 2 for
#: a spawned one (after the handshake); an answer to an id already answered
#: is dropped, so both are sent.
BAD_RESULTS = {
    "bad_result_for_the_run": [
        {"jsonrpc": "2.0", "result": {"bogus": 1}, "id": call_id} for call_id in (1, 2)
    ],
}

#: Frame bodies that are not a msgpack map at all (or not one msgpack can read).
BROKEN_BODIES = {
    "body_is_a_list": msgpack.packb([1, 2, 3]),
    "body_is_not_msgpack": b"\xc1\xc1\xc1",
    "nested_too_deep_for_msgpack": b"\x91" * 5000 + b"\xc0",
}


def frame(body):
    return struct.pack(">I", len(body)) + body


def encode(case):
    """The frame of one named attack (a key of MALFORMED or BROKEN_BODIES)."""
    if case in BROKEN_BODIES:
        return frame(BROKEN_BODIES[case])
    if case in BAD_RESULTS:
        return b"".join(frame(msgpack.packb(m)) for m in BAD_RESULTS[case])
    return frame(msgpack.packb(MALFORMED[case], use_bin_type=True))


def channel_fds():
    """The host's sockets: its channel to the executor is one of them."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.append(int(name))
    return found


class ChannelSocketsAction(Action):
    """Which sockets a host has (the tests check the channel is findable)."""

    def run(self, context):
        return channel_fds()


class MalformedMessageAction(Action):
    """Write one malformed message on the channel, then wait to be killed."""

    def __init__(self, case, hold=60.0):
        self.case = case
        self.hold = hold

    def run(self, context):
        data = encode(self.case)
        for fd in channel_fds():
            os.write(fd, data)
        time.sleep(self.hold)
        return "the executor ignored the malformed message"


class LongLinesAction(Action):
    """Print ``lines`` lines of ``size`` bytes each to stdout (fd 1)."""

    def __init__(self, lines=50, size=10 * 1024 * 1024, fd=1):
        self.lines = lines
        self.size = size
        self.fd = fd

    def run(self, context):
        line = b"x" * self.size + b"\n"
        for _ in range(self.lines):
            view = memoryview(line)
            while view:
                view = view[os.write(self.fd, view) :]
        return "printed"


class NoNewlineAction(Action):
    """Print ``total`` bytes to stdout without a single newline."""

    def __init__(self, total=100 * 1024 * 1024, chunk=1024 * 1024):
        self.total = total
        self.chunk = chunk

    def run(self, context):
        block = memoryview(b"y" * self.chunk)
        left = self.total
        while left > 0:
            view = block[: min(left, self.chunk)]
            left -= len(view)
            while view:
                view = view[os.write(1, view) :]
        return "printed"


class FloodAction(Action):
    """Write ``lines`` short lines to stderr (fd 2) as fast as possible."""

    def __init__(self, lines=1_000_000, fd=2):
        self.lines = lines
        self.fd = fd

    def run(self, context):
        block = b"".join(b"flood line %08d ..........\n" % i for i in range(1000))
        written = 0
        while written < self.lines:
            view = memoryview(block)
            while view:
                view = view[os.write(self.fd, view) :]
            written += 1000
        return written


class LogFloodAction(Action):
    """Send ``records`` log records through Python logging (protocol notifications)."""

    def __init__(self, records=5000, size=100):
        self.records = records
        self.size = size

    def run(self, context):
        log = logging.getLogger("hostile.flood")
        text = "z" * self.size
        for i in range(self.records):
            log.warning("record %d %s", i, text)
        return self.records


class BigExceptionAction(Action):
    """Raise an exception whose message is ``size`` bytes."""

    def __init__(self, size=10 * 1024 * 1024):
        self.size = size

    def run(self, context):
        raise ValueError("e" * self.size)


class BigErrorResultAction(Action):
    """Return an error Result of ``size`` bytes (the size limit refuses it)."""

    def __init__(self, size=10 * 1024 * 1024):
        self.size = size

    def run(self, context):
        from actions_api import Result

        return Result(error="r" * self.size)
