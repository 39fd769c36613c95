"""Whatever a peer sends, the other side ends with a ProtocolError, never a crash.

Three layers:

* a property-based fuzz of the endpoint in both directions (the executor's
  endpoint fed by a hostile host, the host's endpoint fed by a hostile
  executor): only ``ProtocolError`` may come out of ``feed``, and no call
  is left waiting once the channel ends;
* end to end, a hostile action writes each malformed message on its host's
  channel: ``Executor.run`` returns one ``ProtocolError`` Result and the host
  is killed; and a real ``action-host`` fed each message by a hostile
  executor exits with ``ExitCode.PROTOCOL_ERROR``;
* parameters nested too deep, or cyclic, are refused as invalid input
  before anything is sent.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import msgpack
import pytest
from helpers import process_exists, serve_host
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugins.testplugins_hostile import BAD_RESULTS, BROKEN_BODIES, MALFORMED, encode

from action_host.discovery import Catalog
from action_host.handlers import HostContext
from action_host.handlers import handlers as host_handlers
from actions_api import Action
from executor import ActionInstance, ErrorKind
from executor.runs.host_calls import Binding, host_calls
from executor.runs.tree import Run
from protocol import PROTOCOL_VERSION
from protocol.endpoint import Endpoint
from protocol.envelope import classify
from protocol.errors import InvalidMessage, ProtocolError, QueueFull, RpcError
from protocol.exit_codes import ExitCode
from protocol.framing import MAX_DEPTH, pack
from protocol.messages import (
    ActionContextModel,
    InitializeParams,
    RunActionParams,
)
from protocol.methods import REUSE_ACTION, RUN_ACTION

# -- the endpoints under test, without sockets ------------------------------------


class Recorder:
    """An in-memory ``Transport``: the endpoint's answers are kept, not sent."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def send(self, data: bytes, fds: Any = ()) -> None:
        self.sent += data

    def close(self) -> None:
        pass


def _inline(fn: Callable[[], None]) -> None:
    fn()  # background handlers run at once: one thread, reproducible examples


class _NoNestedRuns:
    """The executor's pipeline, as far as a nested-run request sees it: full."""

    def run_nested(self, run: Run, params: dict[str, Any], dry_run: bool) -> Any:
        raise QueueFull("no nested runs in this test")


def executor_side() -> tuple[Endpoint, list[Future[Any]]]:
    """The executor's endpoint for one host, with its real handlers and a run
    call in flight."""
    run = Run.root("fuzz.victim", ActionContextModel(), {}, None)
    endpoint = Endpoint(
        Recorder(),
        host_calls,
        context=Binding(run, _NoNestedRuns()),  # type: ignore[arg-type]
        name="action host",
        background=_inline,
    )
    pending = [endpoint.call(RUN_ACTION, RunActionParams(action="fuzz.victim"))]
    return endpoint, pending


class Echo(Action):
    def __init__(self, **params: Any) -> None:
        self.params = params

    def run(self, context: Any) -> Any:
        return self.params


def host_side() -> tuple[Endpoint, list[Future[Any]]]:
    """A host's endpoint, with its real handlers and a nested-run call in flight."""
    state = HostContext(catalog=Catalog(classes={"fuzz.echo": Echo}))
    endpoint = Endpoint(
        Recorder(), host_handlers, context=state, name="executor", background=_inline
    )
    state.endpoint = endpoint
    pending = [endpoint.call(REUSE_ACTION, RunActionParams(action="fuzz.nested"))]
    return endpoint, pending


def frame(message: Any) -> bytes:
    body = message if isinstance(message, bytes) else pack(message)
    return len(body).to_bytes(4, "big") + body


def feed_all(endpoint: Endpoint, chunks: list[bytes]) -> ProtocolError | None:
    """Feed ``chunks``, then the end of the stream; the ProtocolError that
    ended the channel (any other exception fails the test)."""
    for chunk in [*chunks, b""]:
        try:
            endpoint.feed(chunk)
        except ProtocolError as exc:
            return exc
    return None


def assert_nothing_waits(endpoint: Endpoint, pending: list[Future[Any]]) -> None:
    assert endpoint.closed is not None
    for future in pending:
        assert future.done()
        error = future.exception()
        assert error is None or isinstance(error, (ProtocolError, RpcError))


# -- strategies --------------------------------------------------------------------

KEYS = (
    st.text(max_size=8)
    | st.integers(-3, 3)
    | st.binary(max_size=4)
    | st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=16)
    | st.binary(max_size=16)
    | st.datetimes(max_value=datetime.datetime(9000, 1, 1))
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)

#: Valid params of every method either side serves, to mutate.
EXAMPLES: dict[str, dict[str, Any]] = {
    "log": {"level": 20, "logger": "x", "message": "m", "created": 0.0},
    "action.run": {"action": "fuzz.echo", "params": {"x": 1}},
    "action.reuse": {"action": "fuzz.echo"},
    "initialize": InitializeParams(
        protocol_version=PROTOCOL_VERSION,
        runtime_version="x",
        executor_pid=1,
        max_frame_size=1 << 20,
    ).model_dump(),
    "$/cancel": {"reason": "r"},
    "actions.list": {},
    "fork_child": {"workdir": "/nonexistent", "environ": {}},
}
OUTCOMES = st.fixed_dictionaries(
    {}, optional={"data": VALUES, "error": VALUES, "cancel": VALUES, "is_sync": VALUES}
)


@st.composite
def params_for(draw: st.DrawFn, method: Any) -> Any:
    example = EXAMPLES.get(method) if isinstance(method, str) else None
    if example is None or draw(st.integers(0, 4)) == 0:
        return draw(st.dictionaries(st.text(max_size=8), VALUES, max_size=3) | VALUES)
    params = dict(example)
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from([*params, "unknown"]) if params else st.just("unknown"))
        params[key] = draw(VALUES)
    return params


@st.composite
def messages(draw: st.DrawFn) -> Any:
    """A message as a broken or hostile peer might send it: mostly near-valid."""
    kind = draw(st.sampled_from(["request", "response", "error", "anything"]))
    message: dict[Any, Any] = {}
    if draw(st.integers(0, 9)):
        message["jsonrpc"] = "2.0"
    else:
        message["jsonrpc"] = draw(VALUES)
    if kind == "request":
        method = draw(st.sampled_from(sorted(EXAMPLES)) | st.text(max_size=8) | VALUES)
        message["method"] = method
        if draw(st.integers(0, 5)):
            message["params"] = draw(params_for(method))
        if draw(st.booleans()):
            message["id"] = draw(st.integers(0, 3) | VALUES)
    elif kind == "response":
        message["result"] = draw(OUTCOMES | VALUES)
        message["id"] = draw(st.integers(0, 3) | VALUES)
    elif kind == "error":
        message["error"] = draw(
            st.fixed_dictionaries(
                {"code": st.integers(-32768, 0) | VALUES, "message": st.text(max_size=8) | VALUES},
                optional={"data": VALUES},
            )
            | VALUES
        )
        message["id"] = draw(st.integers(0, 3) | VALUES)
    else:
        message = draw(st.dictionaries(KEYS, VALUES, max_size=4))
    if draw(st.integers(0, 7)) == 0:
        message.update(draw(st.dictionaries(KEYS, VALUES, min_size=1, max_size=2)))
    return message


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    """Frames of hostile messages (some raw bytes), cut into arbitrary chunks."""
    frames = []
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.integers(0, 9))
        if choice == 0:
            frames.append(frame(draw(st.binary(max_size=24))))
        elif choice == 1:
            frames.append(draw(st.binary(max_size=12)))
        else:
            frames.append(frame(draw(messages())))
    data = b"".join(frames)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


FUZZ = settings(
    max_examples=300,
    # Per example, generous for a loaded 2-core machine (an example takes ~1 ms;
    # an unknown action name on the host side costs a ~25 ms entry point scan).
    deadline=datetime.timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(chunks=streams())
def test_a_hostile_host_can_only_end_the_executors_channel_with_a_protocol_error(chunks):
    endpoint, pending = executor_side()
    feed_all(endpoint, chunks)
    assert_nothing_waits(endpoint, pending)


@FUZZ
@given(chunks=streams())
def test_a_hostile_executor_can_only_end_the_hosts_channel_with_a_protocol_error(chunks):
    endpoint, pending = host_side()
    feed_all(endpoint, chunks)
    assert_nothing_waits(endpoint, pending)


# -- each known malformed message, in both directions --------------------------------

CASES = sorted(MALFORMED) + sorted(BROKEN_BODIES)


@pytest.mark.parametrize("side", [executor_side, host_side], ids=["executor", "host"])
@pytest.mark.parametrize("case", CASES)
def test_a_malformed_message_fails_the_pending_calls_with_a_protocol_error(side, case):
    endpoint, pending = side()
    with pytest.raises(ProtocolError):
        endpoint.feed(encode(case))
    assert_nothing_waits(endpoint, pending)
    assert isinstance(pending[0].exception(), ProtocolError)


def test_a_malformed_message_is_named_in_the_error():
    endpoint, _pending = executor_side()
    with pytest.raises(InvalidMessage, match="'id' is list"):
        endpoint.feed(encode("response_id_is_a_list"))
    endpoint, _pending = executor_side()
    with pytest.raises(InvalidMessage, match="'error' is str 'boom'"):
        endpoint.feed(encode("error_is_a_string"))


def test_a_bad_result_for_a_pending_call_ends_the_channel():
    endpoint, pending = executor_side()
    with pytest.raises(InvalidMessage, match="bad result for action.run"):
        endpoint.feed(frame({"jsonrpc": "2.0", "result": {"bogus": 1}, "id": 1}))
    assert isinstance(pending[0].exception(), InvalidMessage)
    assert endpoint.closed is not None


def test_well_formed_messages_still_pass():
    endpoint, pending = executor_side()
    endpoint.feed(frame({"jsonrpc": "2.0", "method": "log", "params": EXAMPLES["log"]}))
    endpoint.feed(frame({"jsonrpc": "2.0", "result": {"data": 7}, "id": 1}))
    assert pending[0].result(0).data == 7
    assert endpoint.closed is None


def test_the_envelope_check_costs_microseconds():
    """It runs for every message in both directions: plain type checks, no schema
    (measured: about 1.3 µs; a log notification's whole dispatch is about 45 µs)."""
    request = {"jsonrpc": "2.0", "method": "log", "params": EXAMPLES["log"]}
    response = {"jsonrpc": "2.0", "result": {"data": 1}, "id": 1}
    started = time.perf_counter()
    for _ in range(10_000):
        classify(request)
        classify(response)
    per_message = (time.perf_counter() - started) / 20_000
    assert per_message < 50e-6, f"{per_message * 1e6:.1f} µs per envelope"


# -- end to end: a hostile action on its own channel ---------------------------------

E2E_CASES = sorted(MALFORMED) + sorted(BROKEN_BODIES) + sorted(BAD_RESULTS)


@pytest.mark.parametrize("case", E2E_CASES)
def test_a_host_writing_a_malformed_message_ends_its_run_with_one_protocol_error(executor, case):
    result = executor.run("test.hostile.malformed", {"case": case}, timeout=120)
    assert result.error_type is ErrorKind.PROTOCOL_ERROR, (result.error_type, result.error)
    assert "broke the protocol" in result.error
    assert result.host_pid is not None
    deadline = time.monotonic() + 10
    while process_exists(result.host_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_exists(result.host_pid), "the host was not killed"


def test_the_executor_still_runs_actions_after_a_protocol_error(executor):
    executor.run("test.hostile.malformed", {"case": "error_is_a_string"}, timeout=120)
    assert executor.run("test.hostile.sockets", timeout=120).is_success()


# -- end to end: a real host fed by a hostile executor --------------------------------


@pytest.mark.parametrize("case", CASES)
def test_a_host_fed_a_malformed_message_exits_with_protocol_error(case):
    sock, proc = serve_host()
    try:
        sock.sendall(encode(case))
        _out, err = proc.communicate(timeout=120)
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitCode.PROTOCOL_ERROR, err.decode(errors="replace")
    assert b"protocol error" in err
    assert b"Traceback" not in err


# -- parameters too deep or cyclic ---------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _cyclic() -> dict[str, Any]:
    loop: dict[str, Any] = {"name": "loop"}
    loop["inner"] = [1, {"back": loop}]
    return loop


def test_params_nested_100000_deep_are_refused_naming_the_limit(fork_executor):
    result = fork_executor.run("test.print", {"deep": _nested(100_000)})
    assert result.error_type is ErrorKind.INVALID_INPUT
    assert f"more than {MAX_DEPTH} levels" in result.error


def test_params_at_the_depth_limit_are_accepted(fork_executor):
    result = fork_executor.run("test.kwargs", {"deep": _nested(MAX_DEPTH - 1)}, timeout=120)
    assert result.is_success(), result.error


def test_cyclic_params_are_refused_as_a_cycle(fork_executor):
    result = fork_executor.run("test.print", {"data": _cyclic()})
    assert result.error_type is ErrorKind.INVALID_INPUT
    assert "cycle" in result.error
    assert "$.params.data" in result.error


def test_the_same_list_twice_is_not_a_cycle(fork_executor):
    shared = [1, 2]
    result = fork_executor.run("test.kwargs", {"a": shared, "b": [shared, shared]}, timeout=120)
    assert result.is_success(), result.error


def test_an_action_object_with_deep_or_cyclic_data_is_refused(fork_executor):
    for data, expected in (({"x": _nested(100_000)}, "levels"), ({"x": _cyclic()}, "cycle")):
        result = fork_executor.run_instance(
            ActionInstance("mistral.actions.std_actions.EchoAction", data=data)
        )
        assert result.error_type is ErrorKind.INVALID_INPUT
        assert expected in result.error


def test_a_context_with_cyclic_headers_is_refused_as_invalid_context(fork_executor):
    headers: dict[str, Any] = {}
    headers["self"] = headers
    result = fork_executor.run(
        "test.print", context={"execution": {"workflow_propagated_headers": headers}}
    )
    assert result.error_type is ErrorKind.INVALID_CONTEXT
    assert "cycle" in result.error


def test_msgpack_itself_refuses_a_frame_nested_past_its_stack():
    endpoint, pending = executor_side()
    with pytest.raises(ProtocolError, match="not valid msgpack"):
        endpoint.feed(frame(b"\x91" * 5000 + msgpack.packb(None)))
    assert isinstance(pending[0].exception(), ProtocolError)
