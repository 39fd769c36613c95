"""One end of a bidirectional JSON-RPC 2.0 channel.

Both ends are peers: each may call the other and have several calls in
flight, so an action that reuses another action can call the executor while
the executor's own ``action.run`` call to it is still open.

* Outgoing calls get ids from a per-endpoint counter and wait in
  ``_outgoing`` (id -> Future) until their response arrives; an unknown
  response id is logged and dropped.
* Incoming requests and notifications are dispatched by jsonrpcserver to the
  handlers registered in a ``Handlers`` table. Its JSON-Schema request
  validation is switched off: it costs about 0.1 ms a call and the pydantic
  models already validate every params object. Handlers registered as
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
from typing import Any, Generic, TypeVar

from jsonrpcserver import Error, Success
from jsonrpcserver.main import dispatch_to_response
from jsonrpcserver.response import to_serializable_one
from jsonrpcserver.sentinels import NODATA
from pydantic import ValidationError

from .errors import (
    ChannelClosed,
    FrameTooLarge,
    ProtocolError,
    ResultTooLarge,
    RpcError,
    UndecodableFrame,
)
from .framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, encode_frame
from .messages import Model
from .methods import MethodSpec
from .transport import Transport

log = logging.getLogger(__name__)

C = TypeVar("C")
R = TypeVar("R", bound=Model)
HandlerT = Callable[[Any, Any], Any]


def _identity(value: Any) -> Any:
    return value


def _start_thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="rpc-handler", daemon=True).start()


def dispatch(handlers: Handlers[Any], message: dict[str, Any], context: Any) -> Any:
    """Dispatch one request through jsonrpcserver; the response dict, or None."""
    return dispatch_to_response(
        message,
        handlers.methods,
        context=context,
        deserializer=_identity,
        validator=_identity,
        post_process=to_serializable_one,
    )


class Handlers(Generic[C]):
    """The methods one side serves: a registry keyed by method name."""

    def __init__(self) -> None:
        self._methods: dict[str, Callable[..., Any]] = {}
        self.background: set[str] = set()

    def register(
        self, spec: MethodSpec[Any, Any], *, background: bool = False
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator: ``fn(context, params) -> result model | None`` serves ``spec``."""

        def decorator(fn: HandlerT) -> HandlerT:
            self._methods[spec.name] = _jsonrpc_method(spec, fn)
            if background:
                self.background.add(spec.name)
            return fn

        return decorator

    @property
    def methods(self) -> dict[str, Callable[..., Any]]:
        return self._methods


def _jsonrpc_method(spec: MethodSpec[Any, Any], fn: HandlerT) -> Callable[..., Any]:
    def method(context: Any, /, **raw: Any) -> Any:
        try:
            params = spec.params.model_validate(raw)
        except ValidationError as exc:
            return Error(-32602, f"invalid params for {spec.name}: {exc}")
        try:
            result = fn(context, params)
        except RpcError as exc:
            return Error(exc.code, exc.message, NODATA if exc.data is None else exc.data)
        except Exception as exc:
            log.exception("handler for %s failed", spec.name)
            return Error(-32603, f"{spec.name} failed: {type(exc).__name__}: {exc}")
        if result is None:
            return Success(None)
        return Success(result.model_dump())

    method.__name__ = spec.name
    return method


class Endpoint:
    """See the module docstring."""

    def __init__(
        self,
        transport: Transport,
        handlers: Handlers[Any] | None = None,
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
        self._handlers = handlers or Handlers()
        self._decoder = FrameDecoder(max_frame_size)
        self._ids = itertools.count(1)
        self._outgoing: dict[int, tuple[MethodSpec[Any, Any], Future[Any]]] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
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

    def call(self, spec: MethodSpec[Any, R], params: Model, fds: Sequence[int] = ()) -> Future[R]:
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
            "params": params.model_dump(),
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

    def notify(self, spec: MethodSpec[Any, Any], params: Model) -> None:
        message = {"jsonrpc": "2.0", "method": spec.name, "params": params.model_dump()}
        self._send(encode_frame(message, self.max_frame_size))

    def send_raw(self, message: dict[str, Any]) -> None:
        """Send an already-built message (tests use this to misbehave)."""
        self._send(encode_frame(message, self.max_frame_size))

    # -- receiving -----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Process bytes read from the peer. ``b""`` means end of stream."""
        if not data:
            try:
                self._decoder.close()
            except ProtocolError as exc:
                self._fail(exc)
                raise
            self._fail(ChannelClosed(f"{self.name} closed the channel"))
            return
        try:
            for message in self._decoder.feed(data):
                self._receive(message)
        except ProtocolError as exc:
            self._fail(exc)
            raise

    def _receive(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if message["method"] in self._handlers.background:
                self._background(lambda: self._dispatch(message))
            else:
                self._dispatch(message)
        elif "result" in message or "error" in message:
            self._resolve(message)
        else:
            raise UndecodableFrame(
                f"message from {self.name} is neither a request nor a response: "
                f"keys {sorted(message)}"
            )

    def _dispatch(self, message: dict[str, Any]) -> None:
        response = dispatch(self._handlers, message, self.context)
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
        with self._lock:
            entry = self._outgoing.pop(message.get("id"), None)  # type: ignore[arg-type]
        if entry is None:
            log.warning("%s answered unknown call id %r", self.name, message.get("id"))
            return
        spec, future = entry
        if "error" in message:
            future.set_exception(RpcError.from_error(message["error"] or {}))
            return
        try:
            result = spec.result.model_validate(message["result"]) if spec.result else None
        except ValidationError as exc:
            future.set_exception(
                UndecodableFrame(f"bad result for {spec.name} from {self.name}: {exc}")
            )
            return
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
