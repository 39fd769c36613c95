"""Frames: a 4-byte big-endian length, then one msgpack map.

Rules of the wire:

* The length counts the body only, not the 4 header bytes.
* The body is exactly one msgpack map (a JSON-RPC 2.0 request, notification or
  response). Anything else is an ``UndecodableFrame``, and so is a map key
  that is not a string (or bytes) anywhere in the body: values crossing the
  wire have string keys (``find_unencodable``), so a number as a key can
  only come from a broken peer, and msgpack refuses it for free.
* Values nest at most ``MAX_DEPTH`` levels (``find_unencodable`` refuses
  deeper ones before anything is sent); msgpack's own reader refuses a body
  nested deeper than 1024 levels.
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

#: Deepest nesting of lists and maps a value may have to be sent (the value
#: itself is level 0). Far beyond any real parameters or results, and far below
#: what would exhaust the interpreter's stack in the code that walks, packs
#: or validates values on either side.
MAX_DEPTH = 100


def _where(root: str, steps: list[str | int]) -> str:
    """``$.a[3].b`` from the steps taken; long keys shortened."""
    parts = [root]
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(f".{step}" if len(step) <= 40 else f".{step[:37]}...")
    where = "".join(parts)
    return where if len(where) <= 200 else f"{where[:100]}...{where[-97:]}"


#: A container to check: (value, depth, the node holding it, its key or index there).
_Node = tuple[Any, int, "_Node | None", "str | int"]


def _steps(node: _Node) -> list[str | int]:
    steps: list[str | int] = []
    at: _Node | None = node
    while at is not None and at[2] is not None:
        steps.append(at[3])
        at = at[2]
    return steps[::-1]


def find_unencodable(value: Any, path: str = "$", max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``value`` cannot be sent, as a message naming where; else None.

    Refused: a type the wire cannot carry, a key that is not a string, a
    list or map that contains itself (a cycle), and more than ``max_depth``
    levels of lists and maps. The walk is iterative (depth first, with the
    path kept as links, turned into text only for the message), so no value
    can make it raise ``RecursionError``; a list or map reached twice
    through different paths (not a cycle) is fine.
    """
    if isinstance(value, _PLAIN):
        return None
    todo: list[_Node] = [(value, 0, None, "")]
    while todo:
        node = todo.pop()
        container, depth = node[0], node[1]
        if depth >= max_depth:
            return _too_deep(node, path, max_depth)
        if isinstance(container, dict):
            for key, child in container.items():
                if not isinstance(key, str):
                    return (
                        f"key {key!r:.80} at {_where(path, _steps(node))} is a "
                        f"{type(key).__qualname__}; only string keys can be sent"
                    )
                if not isinstance(child, _PLAIN):
                    todo.append((child, depth + 1, node, key))
        elif isinstance(container, (list, tuple)):
            for index, child in enumerate(container):
                if not isinstance(child, _PLAIN):
                    todo.append((child, depth + 1, node, index))
        else:
            cls = type(container)
            return (
                f"value of type {cls.__module__}.{cls.__qualname__} at "
                f"{_where(path, _steps(node))} cannot be sent between processes; pass "
                "dict/list/str/number/bool/None/bytes/datetime"
            )
    return None


def _too_deep(node: _Node, path: str, max_depth: int) -> str:
    """The message for a value past ``max_depth``: a cycle, or just deep."""
    steps = _steps(node)
    # The cycle's first two turns: the outermost occurrences of this container.
    depths = []
    at: _Node | None = node
    while at is not None:
        if at[0] is node[0]:
            depths.append(at[1])
        at = at[2]
    if len(depths) > 1:
        first, again = depths[-1], depths[-2]
        return (
            f"the value at {_where(path, steps[:first])} contains itself (at "
            f"{_where(path, steps[:again])}): a cycle cannot be sent between processes"
        )
    return (
        f"the value is nested more than {max_depth} levels deep (at "
        f"{_where(path, steps)}); the limit is {max_depth} levels of lists and maps: "
        "flatten it, or send it as a string"
    )


def pack(message: dict[str, Any]) -> bytes:
    """Encode one message body (no header)."""
    body: bytes = msgpack.packb(message, use_bin_type=True, default=_default)
    return body


def encode_frame(message: dict[str, Any], max_frame_size: int | None = None) -> bytes:
    """Encode ``message`` as one frame; refuse to build a frame the peer must reject."""
    body = pack(message)
    if max_frame_size is not None and len(body) > max_frame_size:
        raise FrameTooLarge(len(body), max_frame_size)
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(
            body, raw=False, ext_hook=_ext_hook, strict_map_key=True, timestamp=3
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
