"""One end of a bidirectional JSON-RPC 2.0 channel.

Both ends are peers: each may call the other and have several calls in
flight, so an action that reuses another action can call the executor while
the executor's own ``action.run`` call to it is still open.

* Outgoing calls get ids from a per-endpoint counter and wait in
  ``_outgoing`` (id -> Future) until their response arrives; an unknown
  response id is logged (the first one a warning, the rest debug) and dropped.
* Every message's envelope is checked before anything else looks at it
  (``protocol.envelope``: plain type checks, no schema, about a microsecond):
  a malformed message (a list as ``id``, a string as ``error``, a non-string
  key, an unknown member...) is an ``InvalidMessage``, a ``ProtocolError``
  that ends the channel like a broken frame. Whatever else a peer's message
  makes go wrong while it is processed ends the channel the same way:
  ``feed`` raises nothing but ``ProtocolError``.
* Incoming requests and notifications go to a ``Dispatcher``: the
  executor's ``protocol.handlers.Handlers`` (pydantic models, jsonrpcserver)
  or a host's ``protocol.plain.PlainHandlers`` (plain dicts checked against
  the schema generated from the same models). Handlers registered as
  *background* run in their own thread, so the reading side stays free to
  receive cancels and the answers to nested calls.
* When the channel ends (EOF, a broken frame), every call still waiting fails
  with the ``ProtocolError`` that ended it: nothing waits forever.

The endpoint does no I/O of its own: ``feed`` takes bytes from whoever
reads the socket (the executor multiplexes a host's socket with its output
pipes; ``protocol.transport.serve_forever`` is the plain blocking loop of the
host side), and frames leave through the ``Transport`` it was given.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from .envelope import brief, classify
from .errors import (
    ChannelClosed,
    FrameTooLarge,
    InvalidMessage,
    MethodNotFound,
    ProtocolError,
    ResultTooLarge,
    RpcError,
)
from .framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, encode_frame
from .transport import Transport

log = logging.getLogger(__name__)

R = TypeVar("R", covariant=True)


class Spec(Protocol[R]):
    """A method as a caller sees it: ``protocol.methods.MethodSpec`` (models)
    on the executor's side, ``protocol.plain.PlainMethod`` (dicts) on a host's."""

    @property
    def name(self) -> str: ...

    def parse_result(self, raw: Any) -> R: ...


class Dispatcher(Protocol):
    """What serves the peer's requests: ``protocol.handlers.Handlers`` or
    ``protocol.plain.PlainHandlers``."""

    background: set[str]

    def dispatch(self, message: dict[str, Any], context: Any) -> dict[str, Any] | None: ...


class _NoMethods:
    background: set[str] = set()

    def dispatch(self, message: dict[str, Any], context: Any) -> dict[str, Any] | None:
        if "id" not in message:
            return None
        error = MethodNotFound(data=message["method"]).to_error()
        return {"jsonrpc": "2.0", "error": error, "id": message["id"]}


def _wire(params: Any) -> Any:
    """A params model dumped, or a plain dict as it is."""
    return params if isinstance(params, dict) else params.model_dump()


def _start_thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="rpc-handler", daemon=True).start()


class Endpoint:
    """See the module docstring."""

    def __init__(
        self,
        transport: Transport,
        handlers: Dispatcher | None = None,
        *,
        context: Any = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        name: str = "peer",
        background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """``background(fn)`` runs ``fn`` off the reading thread; default: a new thread."""
        self.transport = transport
        self._background = background or _start_thread
        self.name = name
        self.context = context
        self.max_frame_size = max_frame_size
        self._handlers: Dispatcher = handlers or _NoMethods()
        self._decoder = FrameDecoder(max_frame_size)
        self._ids = itertools.count(1)
        self._outgoing: dict[int, tuple[Spec[Any], Future[Any]]] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._unknown_ids = 0
        self.closed: ProtocolError | None = None

    def set_max_frame_size(self, size: int) -> None:
        """Both directions: the peer told us the largest frame it accepts."""
        self.max_frame_size = size
        self._decoder.max_frame_size = size

    # -- sending -------------------------------------------------------------

    def _send(self, frame: bytes, fds: Sequence[int] = ()) -> None:
        with self._send_lock:
            if self.closed is not None:
                raise self.closed
            self.transport.send(frame, fds)

    def call(self, spec: Spec[R], params: Any, fds: Sequence[int] = ()) -> Future[R]:
        """Send a request; the Future holds the result model or the RpcError.

        ``fds`` are passed to the peer with the request (unix sockets only).
        A request larger than ``max_frame_size`` raises ``FrameTooLarge`` here,
        before anything is sent: the channel stays usable.
        """
        future: Future[R] = Future()
        with self._lock:
            if self.closed is not None:
                future.set_exception(self.closed)
                return future
            call_id = next(self._ids)
        message = {
            "jsonrpc": "2.0",
            "method": spec.name,
            "params": _wire(params),
            "id": call_id,
        }
        frame = encode_frame(message, self.max_frame_size)
        with self._lock:
            if self.closed is not None:
                future.set_exception(self.closed)
                return future
            self._outgoing[call_id] = (spec, future)
        try:
            self._send(frame, fds)
        except ProtocolError as exc:
            with self._lock:
                mine = self._outgoing.pop(call_id, None)
            if mine is not None:  # else _fail already failed this future
                future.set_exception(exc)
        return future

    def notify(self, spec: Spec[Any], params: Any) -> None:
        """``params``: a model, or a dict (a host's, already in wire form)."""
        message = {"jsonrpc": "2.0", "method": spec.name, "params": _wire(params)}
        self._send(encode_frame(message, self.max_frame_size))

    def send_raw(self, message: dict[str, Any]) -> None:
        """Send an already-built message (tests use this to misbehave)."""
        self._send(encode_frame(message, self.max_frame_size))

    # -- receiving -----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Process bytes read from the peer. ``b""`` means end of stream.

        Raises only ``ProtocolError`` (after failing every pending call with
        it), whatever the peer sent.
        """
        if not data:
            try:
                self._decoder.close()
            except ProtocolError as exc:
                self._fail(exc)
                raise
            self._fail(ChannelClosed(f"{self.name} closed the channel"))
            return
        if self.closed is not None:
            return  # the channel already ended; what follows it is not read
        try:
            for message in self._decoder.feed(data):
                try:
                    self._receive(message)
                except ProtocolError:
                    raise
                except Exception as exc:  # a case classify() missed: still the peer's doing
                    raise InvalidMessage(
                        f"a message from {self.name} could not be processed: "
                        f"{type(exc).__name__}: {brief(str(exc))}"
                    ) from exc
        except ProtocolError as exc:
            self._fail(exc)
            raise

    def _receive(self, message: dict[str, Any]) -> None:
        if classify(message, self.name):
            if message["method"] in self._handlers.background:
                self._background(lambda: self._dispatch(message))
            else:
                self._dispatch(message)
        else:
            self._resolve(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        response = self._handlers.dispatch(message, self.context)
        if response is None:
            return
        try:
            frame = encode_frame(response, self.max_frame_size)
        except FrameTooLarge as exc:  # answer anyway: the caller must not wait forever
            frame = encode_frame(
                {
                    "jsonrpc": "2.0",
                    "error": ResultTooLarge(
                        f"the answer to {message.get('method')}: {exc}"
                    ).to_error(),
                    "id": response.get("id"),
                },
                self.max_frame_size,
            )
        try:
            self._send(frame)
        except ProtocolError as exc:
            log.debug("could not answer %s: %s", message.get("method"), exc)

    def _resolve(self, message: dict[str, Any]) -> None:
        """Hand a response (its envelope already checked) to the call waiting for it."""
        call_id = message["id"]
        with self._lock:
            entry = self._outgoing.pop(call_id, None)
        if entry is None:
            self._unknown_ids += 1
            level = logging.WARNING if self._unknown_ids == 1 else logging.DEBUG
            log.log(level, "%s answered unknown call id %s", self.name, brief(call_id))
            return
        spec, future = entry
        if "error" in message:
            future.set_exception(RpcError.from_error(message["error"]))
            return
        try:
            result = spec.parse_result(message["result"])
        except Exception as exc:  # a validation error, or worse from a hostile value
            error = InvalidMessage(
                f"bad result for {spec.name} from {self.name}: "
                f"{exc if isinstance(exc, ValueError) else type(exc).__name__}"
            )
            future.set_exception(error)  # popped above: _fail would not see this call
            raise error from None
        future.set_result(result)

    def _fail(self, error: ProtocolError) -> None:
        with self._lock:
            if self.closed is None:
                self.closed = error
            pending = list(self._outgoing.values())
            self._outgoing.clear()
        for _spec, future in pending:
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        """Fail every pending call and close the transport (the peer sees EOF)."""
        self._fail(ChannelClosed(f"channel to {self.name} was closed locally"))
        self.transport.close()
