"""Endpoints: calls both ways, several in flight, failures that never hang."""

import socket
import threading
import time
from typing import cast

import pytest

from protocol.endpoint import Endpoint
from protocol.errors import (
    ChannelClosed,
    FrameTooLarge,
    InvalidParams,
    MethodNotFound,
)
from protocol.framing import encode_frame
from protocol.handlers import Handlers
from protocol.messages import ActionOutcome, CancelParams, LogParams, RunActionParams
from protocol.methods import CANCEL, LOG, REUSE_ACTION, RUN_ACTION
from protocol.transport import SocketTransport, pump, serve_forever


def _serve_in_thread(endpoint):
    thread = threading.Thread(
        target=lambda: _quiet(lambda: serve_forever(endpoint, endpoint.transport)), daemon=True
    )
    thread.start()
    return thread


def _quiet(fn):
    try:
        fn()
    except Exception:
        pass


def _pair(left_handlers=None, right_handlers=None, **kw):
    a, b = socket.socketpair()
    left = Endpoint(SocketTransport(a), left_handlers, context="left", name="left", **kw)
    right = Endpoint(SocketTransport(b), right_handlers, context="right", name="right", **kw)
    return left, right


def test_each_side_can_call_the_other_while_its_own_call_is_open():
    """The nested-call shape: left calls right, right calls back left before answering."""
    left_handlers, right_handlers = Handlers(), Handlers()
    holder = {}

    @left_handlers.register(REUSE_ACTION, background=True)
    def reuse(ctx, params):
        return ActionOutcome(data=f"inner {params.action}")

    @right_handlers.register(RUN_ACTION, background=True)
    def run(ctx, params):
        inner = holder["right"].call(REUSE_ACTION, RunActionParams(action="std.echo"))
        return ActionOutcome(data=f"outer saw: {inner.result(5).data}")

    left, right = _pair(left_handlers, right_handlers)
    holder["right"] = right
    _serve_in_thread(left)
    _serve_in_thread(right)
    result = left.call(RUN_ACTION, RunActionParams(action="x")).result(5)
    assert result.data == "outer saw: inner std.echo"


def test_several_calls_in_flight_are_answered_by_id():
    handlers = Handlers()

    @handlers.register(RUN_ACTION, background=True)
    def run(ctx, params):
        time.sleep(float(params.params["delay"]))
        return ActionOutcome(data=params.params["n"])

    left, right = _pair(None, handlers)
    _serve_in_thread(left)
    _serve_in_thread(right)
    futures = [
        left.call(
            RUN_ACTION,
            RunActionParams(action="a", params={"n": n, "delay": 0.2 - n * 0.04}),
        )
        for n in range(5)
    ]
    assert [f.result(5).data for f in futures] == [0, 1, 2, 3, 4]


def test_notifications_get_no_answer():
    handlers = Handlers()
    seen = []

    @handlers.register(LOG)
    def on_log(ctx, params):
        seen.append((ctx, params.message))

    left, right = _pair(None, handlers)
    _serve_in_thread(right)
    left.notify(LOG, LogParams(level=20, logger="x", message="hi", created=0.0))
    deadline = time.time() + 5
    while not seen and time.time() < deadline:
        time.sleep(0.01)
    assert seen == [("right", "hi")]


def test_an_unknown_method_is_a_method_not_found_error():
    left, right = _pair()
    _serve_in_thread(left)
    _serve_in_thread(right)
    with pytest.raises(MethodNotFound):
        left.call(RUN_ACTION, RunActionParams(action="x")).result(5)


def test_a_handler_raising_rpc_error_sends_that_error():
    handlers = Handlers()

    @handlers.register(RUN_ACTION)
    def run(ctx, params):
        raise InvalidParams("nope", data={"why": 1})

    left, right = _pair(None, handlers)
    _serve_in_thread(left)
    _serve_in_thread(right)
    with pytest.raises(InvalidParams) as info:
        left.call(RUN_ACTION, RunActionParams(action="x")).result(5)
    assert info.value.message == "nope"
    assert info.value.data == {"why": 1}


def test_calls_waiting_when_the_peer_hangs_up_fail_with_channel_closed():
    a, b = socket.socketpair()
    left = Endpoint(SocketTransport(a), name="left")
    _serve_in_thread(left)
    future = left.call(RUN_ACTION, RunActionParams(action="x"))
    b.close()
    with pytest.raises(ChannelClosed, match="closed the channel"):
        future.result(5)


def test_calls_after_the_channel_closed_fail_at_once():
    a, b = socket.socketpair()
    left = Endpoint(SocketTransport(a), name="left")
    b.close()
    assert pump(left, cast(SocketTransport, left.transport), 1) is False
    with pytest.raises(ChannelClosed):
        left.call(RUN_ACTION, RunActionParams(action="x")).result(1)


def test_an_oversize_frame_from_the_peer_fails_pending_calls_without_hanging():
    a, b = socket.socketpair()
    left = Endpoint(SocketTransport(a), name="left", max_frame_size=1024)
    future = left.call(RUN_ACTION, RunActionParams(action="x"))
    b.sendall(b"\x7f\xff\xff\xff")
    with pytest.raises(FrameTooLarge):
        pump(left, cast(SocketTransport, left.transport), 1)
    with pytest.raises(FrameTooLarge):
        future.result(1)


def test_an_unknown_response_id_is_dropped():
    a, b = socket.socketpair()
    left = Endpoint(SocketTransport(a), name="left")
    b.sendall(encode_frame({"jsonrpc": "2.0", "result": 1, "id": 12345}))
    assert pump(left, cast(SocketTransport, left.transport), 1) is True
    assert left.closed is None


def test_notify_of_a_cancel_reaches_a_busy_peer():
    """The reading side stays free while a background handler runs."""
    handlers = Handlers()
    cancelled = threading.Event()

    @handlers.register(RUN_ACTION, background=True)
    def run(ctx, params):
        return ActionOutcome(cancel=cancelled.wait(5))

    @handlers.register(CANCEL)
    def cancel(ctx, params):
        cancelled.set()

    left, right = _pair(None, handlers)
    _serve_in_thread(left)
    _serve_in_thread(right)
    future = left.call(RUN_ACTION, RunActionParams(action="x"))
    left.notify(CANCEL, CancelParams())
    assert future.result(5).cancel is True


def test_params_that_do_not_fit_the_model_are_refused_as_invalid_params():
    handlers = Handlers()

    @handlers.register(CANCEL)
    def cancel(ctx, params):
        return None

    a, b = socket.socketpair()
    right = Endpoint(SocketTransport(b), handlers, name="right")
    _serve_in_thread(right)
    a.sendall(
        encode_frame({"jsonrpc": "2.0", "method": "$/cancel", "params": {"reason": 5}, "id": 7})
    )
    from protocol.framing import FrameDecoder

    decoder = FrameDecoder()
    got = []
    while not got:
        got.extend(decoder.feed(a.recv(65536)))
    assert got[0]["id"] == 7
    assert got[0]["error"]["code"] == -32602
    assert "reason" in got[0]["error"]["message"]
