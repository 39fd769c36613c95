"""The envelope check every message passes before anything else reads it.

A peer may be hostile or broken, and whatever reads a message after this
(the dispatchers, ``Endpoint``'s response matching) trusts its envelope: a
list as ``id`` would otherwise fail deep inside a dictionary lookup, far from
the message that caused it. So a malformed envelope is an ``InvalidMessage``
that names what is wrong, and ends the channel like a broken frame.

These are plain type checks, no schema (about a microsecond): they run for
every message in both directions. A peer's value appears in an error text
only shortened (``brief``), because it may be huge.
"""

from __future__ import annotations

import itertools
import reprlib
from typing import Any

from .errors import InvalidMessage

_REQUEST_MEMBERS = frozenset({"jsonrpc", "method", "params", "id"})
_RESPONSE_MEMBERS = frozenset({"jsonrpc", "result", "error", "id"})
_ERROR_MEMBERS = frozenset({"code", "message", "data"})

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 2


def brief(value: Any) -> str:
    """A repr short enough for an error text or a log line, whatever the peer sent."""
    return _short.repr(value)


def _show(value: Any) -> str:
    """A value in an error text: its type and a short repr."""
    return f"{type(value).__name__} {_short.repr(value)}"


def _members(mapping: dict[Any, Any]) -> str:
    keys = [_short.repr(key) for key in itertools.islice(mapping, 12)]
    more = f" and {len(mapping) - 12} more" if len(mapping) > 12 else ""
    return ", ".join(sorted(keys)) + more


def _is_id(value: Any) -> bool:
    # bool is an int subclass but never an id; only int and str are ever sent.
    return type(value) is int or type(value) is str


def classify(message: dict[Any, Any], peer: str = "peer") -> bool:
    """True for a request or notification, False for a response.

    Raises ``InvalidMessage`` for anything that is not a JSON-RPC 2.0 message
    as this protocol sends them (``check_request``, ``check_response``).
    """
    if "method" in message:
        check_request(message, peer)
        return True
    if "result" in message or "error" in message:
        check_response(message, peer)
        return False
    raise InvalidMessage(
        f"message from {peer} is neither a request (no 'method') nor a response "
        f"(no 'result' or 'error'): members {_members(message)}"
    )


def _check_members(message: dict[Any, Any], members: frozenset[str], kind: str, peer: str) -> None:
    """No member this protocol does not define, and ``jsonrpc`` is ``"2.0"``."""
    unknown = message.keys() - members
    if unknown:
        raise InvalidMessage(
            f"{kind} from {peer} has members this protocol "
            f"does not define: {_members(dict.fromkeys(unknown))}"
        )
    if message.get("jsonrpc") != "2.0":
        raise InvalidMessage(
            f"message from {peer} is not JSON-RPC 2.0: 'jsonrpc' is "
            f"{_show(message.get('jsonrpc'))}, not '2.0'"
        )


def check_request(message: dict[Any, Any], peer: str) -> None:
    """A request or notification: a string ``method``, ``params`` (if any) a
    map with string keys, ``id`` (if any) an int or a string."""
    _check_members(message, _REQUEST_MEMBERS, "request", peer)
    method = message["method"]
    if type(method) is not str:
        raise InvalidMessage(f"request from {peer}: 'method' is {_show(method)}, not a string")
    if "params" in message:
        _check_params(method, message["params"], peer)
    if "id" in message and not _is_id(message["id"]):
        raise InvalidMessage(
            f"request {method!r:.80} from {peer}: 'id' is {_show(message['id'])}, "
            "not an int or a string"
        )


def _check_params(method: str, params: Any, peer: str) -> None:
    if type(params) is not dict:
        raise InvalidMessage(
            f"request {method!r:.80} from {peer}: 'params' is {_show(params)}, "
            "not a map of named parameters"
        )
    for key in params:
        if type(key) is not str:
            raise InvalidMessage(
                f"request {method!r:.80} from {peer}: parameter name {_show(key)} is not a string"
            )


def check_response(message: dict[Any, Any], peer: str) -> None:
    """A response: an ``id`` (int, string, or null for an error) and exactly
    one of ``result`` and ``error``, the error as ``check_error`` wants it."""
    _check_members(message, _RESPONSE_MEMBERS, "response", peer)
    if "result" in message and "error" in message:
        raise InvalidMessage(f"response from {peer} has both 'result' and 'error'")
    if "id" not in message:
        raise InvalidMessage(f"response from {peer} has no 'id'")
    call_id = message["id"]
    if "error" in message:
        if call_id is not None and not _is_id(call_id):
            raise InvalidMessage(
                f"error response from {peer}: 'id' is {_show(call_id)}, "
                "not an int, a string or null"
            )
        check_error(message["error"], peer)
    elif not _is_id(call_id):
        raise InvalidMessage(
            f"response from {peer}: 'id' is {_show(call_id)}, not an int or a string"
        )


def check_error(error: Any, peer: str) -> None:
    """An error response's ``error``: a map of an int ``code``, a string
    ``message`` and any ``data``, nothing else."""
    if type(error) is not dict:
        raise InvalidMessage(
            f"error response from {peer}: 'error' is {_show(error)}, "
            "not a map of code, message and data"
        )
    unknown = error.keys() - _ERROR_MEMBERS
    if unknown:
        raise InvalidMessage(
            f"error response from {peer}: the error has members this protocol does "
            f"not define: {_members(dict.fromkeys(unknown))}"
        )
    if type(error.get("code")) is not int:
        raise InvalidMessage(
            f"error response from {peer}: 'code' is {_show(error.get('code'))}, not an int"
        )
    if type(error.get("message")) is not str:
        raise InvalidMessage(
            f"error response from {peer}: 'message' is {_show(error.get('message'))}, not a string"
        )
