"""What values may cross the process boundary, and how to add your own types.

Parameters and results travel between processes. Supported as they are:
``dict`` (string keys), ``list``, ``tuple`` (arrives as a list), ``str``,
``bytes``, ``int``, ``float``, ``bool``, ``None``, ``datetime.datetime`` and
``Result``. Anything else is refused with a ``SerializationError`` that names
the type and where it sits in the value (``$.servers[2].created``), unless a
serializer was registered for it, or, for an action's *result*, it is
something Mistral itself would turn into plain data (see ``mistral_primitive``):

    serialization.register_serializer(
        Money, "my_pkg.Money",
        to_data=lambda m: {"amount": str(m.amount), "currency": m.currency},
        from_data=lambda d: Money(Decimal(d["amount"]), d["currency"]),
    )

A registered value travels as ``{"__serial_key": key, "__serial_data": data}``
(the envelope of mistral-lib's polymorphic serializer); processes that know
the key rebuild the object, others see the envelope as a plain dict.

Results like Mistral's: Mistral's executor sends a result through
oslo.serialization's ``to_primitive(..., convert_instances=True)``, so a
plugin may return a set, a ``Decimal``, a ``UUID``, a ``date``, an object
with attributes or a ``requests.Response`` and Mistral stores plain data.
``to_wire(..., mistral_compatible=True)`` (what hosts use for results unless
strict mode is on, ``set_strict(True)``) makes the same plain data, and logs
one line per converted value naming its path and type. Types supported as
they are (above) stay as they are.
"""

from __future__ import annotations

import datetime
import decimal
import inspect
import io
import ipaddress
import itertools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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


_strict = False


def set_strict(strict: bool) -> None:
    """Strict mode: results are refused instead of converted the way Mistral does
    (``action-host --strict-serialization``; the executor's ``strict_serialization``)."""
    global _strict
    _strict = strict


def is_strict() -> bool:
    return _strict


#: The log of the action's run (the host sends it to the executor).
_log = logging.getLogger("action")
#: At most this many conversions are logged one by one per value.
_MAX_LOGGED = 10


@dataclass
class _Conversions:
    """What one ``to_wire(..., mistral_compatible=True)`` call converted."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)
    count: int = 0

    def note(self, path: str, value: Any, into: Any) -> None:
        self.count += 1
        if len(self.seen) < _MAX_LOGGED:
            self.seen.append((path, _type_name(value), type(into).__name__))

    def log(self) -> None:
        for path, type_name, into in self.seen:
            _log.warning(
                "result value at %s of type %s was converted to %s the way Mistral does "
                "(strict_serialization refuses it instead)",
                path,
                type_name,
                into,
            )
        if self.count > len(self.seen):
            _log.warning("... and %d more values converted", self.count - len(self.seen))


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def to_wire(value: Any, path: str = "$", *, mistral_compatible: bool = False) -> Any:
    """Return ``value`` in wire form, or raise SerializationError naming the path.

    With ``mistral_compatible`` a value that is not supported as it is but that
    Mistral would turn into plain data (``mistral_primitive``) is converted the
    same way, with a log line naming its path and type.
    """
    conversions = _Conversions() if mistral_compatible else None
    try:
        return _to_wire(value, path, conversions)
    finally:
        if conversions is not None:
            conversions.log()


def _key(key: Any, path: str, conversions: _Conversions | None) -> str:
    if isinstance(key, str):
        return key
    if conversions is not None:
        # Mistral's JSON encoder writes int, float, bool and None keys as strings.
        primitive = mistral_primitive(key, path)
        if isinstance(primitive, str):
            converted = primitive
        elif isinstance(primitive, bool) or primitive is None:
            converted = {True: "true", False: "false", None: "null"}[primitive]
        elif isinstance(primitive, (int, float)):
            converted = repr(primitive) if isinstance(primitive, float) else str(primitive)
        else:
            converted = None
        if converted is not None:
            conversions.note(f"{path} (key {key!r})", key, converted)
            return converted
    raise SerializationError(
        f"dictionary key {key!r} at {path} is a {type(key).__qualname__}; "
        "only string keys can be sent"
    )


def _to_wire(value: Any, path: str, conversions: _Conversions | None) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = _key(k, path, conversions)
            out[key] = _to_wire(v, f"{path}.{key}", conversions)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_wire(v, f"{path}[{i}]", conversions) for i, v in enumerate(value)]
    entry = _by_type.get(type(value))
    if entry is None:
        for cls, candidate in _by_type.items():
            if isinstance(value, cls):
                entry = candidate
                break
    if entry is not None:
        return {
            KEY: entry.key,
            DATA: _to_wire(entry.to_data(value), f"{path}<{entry.key}>", conversions),
        }
    if conversions is not None:
        converted = mistral_primitive(value, path)
        conversions.note(path, value, converted)
        # Its non-string keys (a mapping's) become strings too; noted once, above.
        return _to_wire(converted, path, _Conversions())
    raise SerializationError(
        f"value of type {type(value).__module__}.{type(value).__qualname__} at {path} "
        "cannot be sent between processes; convert it to dict/list/str/number/bool/"
        "None/bytes/datetime or register a serializer with "
        "actions_api.serialization.register_serializer"
    )


#: How deep ``mistral_primitive`` follows objects (not dicts and lists), as
#: oslo.serialization's ``to_primitive``: deeper objects become None.
_MAX_OBJECT_DEPTH = 3


def _is_nasty(value: Any) -> bool:
    """Modules, classes, functions, code, frames...: Mistral writes them as ``str()``."""
    return (
        inspect.ismodule(value)
        or inspect.isclass(value)
        or inspect.isroutine(value)
        or inspect.isgenerator(value)
        or inspect.istraceback(value)
        or inspect.isframe(value)
        or inspect.iscode(value)
        or inspect.isabstract(value)
        or type(value) is itertools.count
    )


def _netaddr_text(value: Any) -> str | None:
    cls = type(value)
    if cls.__module__.startswith("netaddr") and cls.__name__ in (
        "IPAddress",
        "IPNetwork",
        "IPRange",
    ):
        return str(value)
    return None


def mistral_primitive(value: Any, path: str = "$", level: int = 0) -> Any:
    """``value`` as plain data, the way Mistral's executor sends a result.

    The rules of oslo.serialization's ``to_primitive(value,
    convert_instances=True)``, which Mistral applies to every result: dates as
    ``YYYY-MM-DD``, datetimes as ``YYYY-MM-DDTHH:MM:SS.ffffff``, ``UUID``,
    ``Decimal``, IP addresses and netaddr objects as strings, exceptions as
    their ``repr``, modules, classes, functions and generators as their
    ``str``, mappings as dicts, other iterables (sets, a ``requests.Response``,
    which iterates over its body in 128-byte chunks) as lists, bytes decoded
    as UTF-8, and any other object as its ``__dict__``; objects nested deeper
    than 3 become None. What Mistral cannot convert either (an object without
    ``__dict__`` that is not iterable, undecodable bytes) raises
    ``SerializationError`` naming the path; as a part of a mapping, an
    iterable or an object it makes that container its ``str`` instead (as a
    cycle does at the recursion limit): ``to_primitive`` falls back to ``str``
    on a ``TypeError``, and a ``SerializationError`` is one.
    """
    if isinstance(value, (str, int, float, type(None), bool)):
        return value
    text = _leaf_text(value, path)
    if text is not None:
        return text
    if level > _MAX_OBJECT_DEPTH:
        return None
    try:
        if isinstance(value, dict):
            return {
                mistral_primitive(k, path, level): mistral_primitive(v, f"{path}.{k}", level)
                for k, v in value.items()
            }
        if hasattr(value, "items"):
            return mistral_primitive(dict(value.items()), path, level + 1)
        if hasattr(value, "__iter__") and not isinstance(value, io.IOBase):
            return [mistral_primitive(v, f"{path}[{i}]", level) for i, v in enumerate(value)]
        if hasattr(value, "__dict__"):
            return mistral_primitive(value.__dict__, path, level + 1)
    except Exception as exc:
        return _conversion_failed(value, path, exc)
    raise SerializationError(
        f"value of type {_type_name(value)} at {path} cannot be sent between processes, "
        "and Mistral could not send it either (no attributes, not iterable); convert it "
        "to dict/list/str/number/bool/None or register a serializer with "
        "actions_api.serialization.register_serializer"
    )


def _leaf_text(value: Any, path: str) -> str | None:
    """The text Mistral makes of a value it does not look into, or None for a
    mapping, an iterable or an object (or a value none of the rules names)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"bytes at {path} are not UTF-8 ({exc}); Mistral cannot send them either"
            ) from None
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, (uuid.UUID, decimal.Decimal, ipaddress.IPv4Address)):
        return str(value)
    if isinstance(value, ipaddress.IPv6Address):
        return str(value)
    text = _netaddr_text(value)
    if text is not None:
        return text
    if isinstance(value, Exception):
        return repr(value)
    if _is_nasty(value):
        return str(value)
    return None


def _conversion_failed(value: Any, path: str, exc: Exception) -> str:
    """What a mapping, iterable or object whose conversion raised becomes.

    A ``TypeError`` (e.g. a class-level ``__iter__`` that is not callable)
    makes the value its ``str``, as oslo.serialization does; a part that
    could not be converted raised a ``SerializationError``, which is a
    ``TypeError`` too. Anything else is a ``SerializationError`` naming the path.
    """
    if isinstance(exc, TypeError):
        return str(value)
    if isinstance(exc, RecursionError):
        raise SerializationError(
            f"value of type {_type_name(value)} at {path} contains itself; Mistral "
            "cannot send it either"
        ) from None
    raise SerializationError(  # e.g. iterating a stream that is gone
        f"value of type {_type_name(value)} at {path} could not be converted the way "
        f"Mistral does: {type(exc).__name__}: {exc}"
    ) from None


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
