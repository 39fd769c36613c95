"""What values may cross the process boundary, and how to add your own types.

Parameters and results travel between processes. Supported as they are:
``dict`` (string keys), ``list``, ``tuple`` (arrives as a list), ``str``,
``bytes``, ``int``, ``float``, ``bool``, ``None``, ``datetime.datetime`` and
``Result``. Anything else is refused with a ``SerializationError`` that names
the type and where it sits in the value (``$.servers[2].created``), unless a
serializer was registered for it:

    serialization.register_serializer(
        Money, "my_pkg.Money",
        to_data=lambda m: {"amount": str(m.amount), "currency": m.currency},
        from_data=lambda d: Money(Decimal(d["amount"]), d["currency"]),
    )

A registered value travels as ``{"__serial_key": key, "__serial_data": data}``
(the envelope of mistral-lib's polymorphic serializer); processes that know
the key rebuild the object, others see the envelope as a plain dict.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .exceptions import SerializationError
from .result import Result

KEY = "__serial_key"
DATA = "__serial_data"

_SCALARS = (str, bytes, int, float, bool, type(None), datetime.datetime)


@dataclass(frozen=True)
class _Serializer:
    cls: type
    key: str
    to_data: Callable[[Any], Any]
    from_data: Callable[[Any], Any]


_by_type: dict[type, _Serializer] = {}
_by_key: dict[str, _Serializer] = {}


def register_serializer(
    cls: type,
    key: str,
    *,
    to_data: Callable[[Any], Any],
    from_data: Callable[[Any], Any],
) -> None:
    """Let values of ``cls`` cross the boundary; ``key`` must be unique."""
    if key in _by_key and _by_key[key].cls is not cls:
        raise ValueError(
            f"serialization key {key!r} is already registered for "
            f"{_by_key[key].cls.__qualname__}; choose another key"
        )
    entry = _Serializer(cls, key, to_data, from_data)
    _by_type[cls] = entry
    _by_key[key] = entry


def unregister_serializer(cls: type) -> None:
    entry = _by_type.pop(cls, None)
    if entry is not None:
        _by_key.pop(entry.key, None)


def to_wire(value: Any, path: str = "$") -> Any:
    """Return ``value`` in wire form, or raise SerializationError naming the path."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SerializationError(
                    f"dictionary key {k!r} at {path} is a {type(k).__qualname__}; "
                    "only string keys can be sent"
                )
            out[k] = to_wire(v, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_wire(v, f"{path}[{i}]") for i, v in enumerate(value)]
    entry = _by_type.get(type(value))
    if entry is None:
        for cls, candidate in _by_type.items():
            if isinstance(value, cls):
                entry = candidate
                break
    if entry is not None:
        return {
            KEY: entry.key,
            DATA: to_wire(entry.to_data(value), f"{path}<{entry.key}>"),
        }
    raise SerializationError(
        f"value of type {type(value).__module__}.{type(value).__qualname__} at {path} "
        "cannot be sent between processes; convert it to dict/list/str/number/bool/"
        "None/bytes/datetime or register a serializer with "
        "actions_api.serialization.register_serializer"
    )


def from_wire(value: Any) -> Any:
    """Rebuild registered types inside a value received from the wire."""
    if isinstance(value, dict):
        if KEY in value and DATA in value and len(value) == 2:
            entry = _by_key.get(value[KEY])
            if entry is not None:
                return entry.from_data(from_wire(value[DATA]))
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


register_serializer(
    Result,
    "actions_api.Result",
    to_data=lambda r: {"data": r.data, "error": r.error, "cancel": r.cancel},
    from_data=lambda d: Result(d.get("data"), d.get("error"), bool(d.get("cancel"))),
)
