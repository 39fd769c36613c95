"""Frames: a 4-byte big-endian length, then one msgpack map.

Rules of the wire:

* The length counts the body only, not the 4 header bytes.
* The body is exactly one msgpack map (a JSON-RPC 2.0 request, notification or
  response). Anything else is an ``UndecodableFrame``.
* The receiver checks the announced length against its ``max_frame_size``
  *before* it buffers the body, so a hostile or broken peer cannot make it
  allocate without bound: an oversize announcement is a ``FrameTooLarge``.
* A peer that hangs up in the middle of a frame gives ``TruncatedFrame``;
  one that hangs up between frames gives a clean end of stream.
* Never line-based: any byte may appear in a body.

``FrameDecoder`` is sans-I/O: feed it bytes as they arrive, from any source,
and it yields decoded messages. ``encode_frame`` builds one frame in one buffer.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Iterator
from typing import Any

import msgpack

from .errors import FrameTooLarge, TruncatedFrame, UndecodableFrame

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024

#: msgpack extension code for timezone-naive datetimes (ISO text); aware ones
#: travel as msgpack's own Timestamp extension.
_EXT_NAIVE_DATETIME = 1


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            return msgpack.ExtType(_EXT_NAIVE_DATETIME, value.isoformat().encode())
        return msgpack.Timestamp.from_datetime(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"cannot encode value of type {type(value).__qualname__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_NAIVE_DATETIME:
        return _dt.datetime.fromisoformat(data.decode())
    return msgpack.ExtType(code, data)


_PLAIN = (str, bytes, int, float, bool, type(None), _dt.datetime)


def find_unencodable(value: Any, path: str = "$") -> str | None:
    """Where in ``value`` a type the wire cannot carry sits, as a message; else None."""
    if isinstance(value, _PLAIN):
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return (
                    f"key {k!r} at {path} is a {type(k).__qualname__}; only string keys can be sent"
                )
            problem = find_unencodable(v, f"{path}.{k}")
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            problem = find_unencodable(v, f"{path}[{i}]")
            if problem:
                return problem
        return None
    cls = type(value)
    return (
        f"value of type {cls.__module__}.{cls.__qualname__} at {path} cannot be sent "
        "between processes; pass dict/list/str/number/bool/None/bytes/datetime"
    )


def pack(message: dict[str, Any]) -> bytes:
    """Encode one message body (no header)."""
    return msgpack.packb(message, use_bin_type=True, default=_default)


def encode_frame(message: dict[str, Any], max_frame_size: int | None = None) -> bytes:
    """Encode ``message`` as one frame; refuse to build a frame the peer must reject."""
    body = pack(message)
    if max_frame_size is not None and len(body) > max_frame_size:
        raise FrameTooLarge(len(body), max_frame_size)
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(
            body, raw=False, ext_hook=_ext_hook, strict_map_key=False, timestamp=3
        )
    except Exception as exc:  # msgpack raises several unrelated types
        raise UndecodableFrame(
            f"frame body of {len(body)} bytes is not valid msgpack: {exc}"
        ) from None
    if not isinstance(message, dict):
        raise UndecodableFrame(
            f"frame body must be a msgpack map (a JSON-RPC message), got {type(message).__name__}"
        )
    return message


class FrameDecoder:
    """Turns a byte stream into messages; see the module docstring for the rules."""

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._need: int | None = None  # body length of the frame being read

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        """Add ``data`` and yield every message it completes."""
        buffer = self._buffer
        buffer += data
        while True:
            if self._need is None:
                if len(buffer) < HEADER.size:
                    return
                (size,) = HEADER.unpack_from(buffer)
                if size > self.max_frame_size:
                    raise FrameTooLarge(size, self.max_frame_size)
                self._need = size
                del buffer[: HEADER.size]
            if len(buffer) < self._need:
                return
            body = bytes(buffer[: self._need])
            del buffer[: self._need]
            self._need = None
            yield decode_body(body)

    def close(self) -> None:
        """The stream ended: raise if it ended inside a frame."""
        if self._need is not None:
            raise TruncatedFrame(self._need + HEADER.size, len(self._buffer) + 4)
        if self._buffer:
            raise TruncatedFrame(HEADER.size, len(self._buffer))

    @property
    def idle(self) -> bool:
        """True when no partial frame is buffered."""
        return self._need is None and not self._buffer
