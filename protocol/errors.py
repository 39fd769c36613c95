"""Errors of the wire protocol, and the JSON-RPC error codes we use.

Two families:

* ``ProtocolError`` and subclasses: the byte stream or the message shapes are
  broken (oversize, truncated or undecodable frames, malformed JSON-RPC
  envelopes, a peer that hung up).
  These are raised locally and end the conversation with that peer.
* ``RpcError`` and subclasses: a well-formed call that the other side refused.
  They travel as JSON-RPC error objects and are rebuilt on the calling side
  with ``RpcError.from_error`` so callers can catch the specific class.

Our own codes sit in the range JSON-RPC reserves for servers (-32000..-32099):

======  =====================  ==============================================
code    class                  meaning
======  =====================  ==============================================
-32000  ActionNotFound         no action of that name in this environment
-32004  VersionMismatch        the two sides speak different protocol versions
-32005  NestingTooDeep         too many nested action calls
-32006  ResultTooLarge         a value exceeded the configured size limit
-32007  QueueFull              the executor cannot accept more work now
======  =====================  ==============================================

Codes -32001..-32003 and -32008 were used by earlier protocol versions and are
not reused. Failures of the action itself (a raise, an oversize or
unsendable result) are not JSON-RPC errors: they are a successful
``action.run`` answer whose ``ActionOutcome.failure`` says what happened.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProtocolError(Exception):
    """The byte stream or a message broke the protocol; the channel is unusable."""


class FrameTooLarge(ProtocolError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"frame of {size} bytes exceeds the maximum frame size of {limit} bytes "
            "(raise max_frame_size on both sides if such messages are legitimate)"
        )
        self.size = size
        self.limit = limit


class TruncatedFrame(ProtocolError):
    def __init__(self, expected: int, received: int) -> None:
        super().__init__(
            f"channel closed in the middle of a frame: expected {expected} bytes, "
            f"received {received}"
        )
        self.expected = expected
        self.received = received


class UndecodableFrame(ProtocolError):
    """A frame whose body is not one msgpack map holding a JSON-RPC message."""


class InvalidMessage(UndecodableFrame):
    """A well-framed map that is not a JSON-RPC 2.0 message of this protocol.

    A wrong member type (a list as ``id``, a string as ``error``), a
    non-string key, an unknown member, or a response that is also a request.
    The peer is broken or hostile, so the channel ends: answering could only
    keep a confused conversation going.
    """


class ChannelClosed(ProtocolError):
    """The peer hung up; every call still waiting for an answer fails with this."""


class RpcError(Exception):
    """A JSON-RPC error object, as an exception."""

    code: ClassVar[int] = -32603
    default_message: ClassVar[str] = "Internal error"
    _by_code: ClassVar[dict[int, type[RpcError]]] = {}

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        self.message = message or self.default_message
        self.data = data
        super().__init__(self.message)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        RpcError._by_code.setdefault(cls.code, cls)

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    @staticmethod
    def from_error(error: dict[str, Any]) -> RpcError:
        code = error.get("code", InternalError.code)
        cls = RpcError._by_code.get(code, RpcError)
        exc = cls(str(error.get("message", "")), error.get("data"))
        exc.code = code  # type: ignore[misc]  # keep unknown codes visible
        return exc


class InvalidRequest(RpcError):
    code = -32600
    default_message = "Invalid request"


class MethodNotFound(RpcError):
    code = -32601
    default_message = "Method not found"


class InvalidParams(RpcError):
    code = -32602
    default_message = "Invalid params"


class InternalError(RpcError):
    code = -32603
    default_message = "Internal error"


class ActionNotFound(RpcError):
    code = -32000
    default_message = "Action not found"


class VersionMismatch(RpcError):
    code = -32004
    default_message = "Protocol version mismatch"


class NestingTooDeep(RpcError):
    code = -32005
    default_message = "Too many nested action calls"


class ResultTooLarge(RpcError):
    code = -32006
    default_message = "Value too large"


class QueueFull(RpcError):
    code = -32007
    default_message = "Executor queue is full"
