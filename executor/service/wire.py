"""mistral-lib's polymorphic JSON encoding, read and written without mistral-lib.

On Mistral's RPC every argument and every return value is a JSON text
(``PolymorphicSerializer``): a primitive is ``json.dumps(value)``; a
registered type is ``{"__serial_key": KEY, "__serial_data": "<inner JSON>"}``.
An action travels as ``{cls, cls_attrs, data}`` (mistral-lib's
``ActionSerializer``: import ``cls``, subclass it with ``cls_attrs`` when
there are any, skip ``__init__``, ``setattr`` each ``data`` item). Decoding
here never imports the class: it only yields the class path and attributes,
which the executor rebuilds inside an action host.

The writer uses oslo.serialization's ``jsonutils`` exactly as mistral-lib
does, so texts are byte-for-byte what a Mistral executor sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oslo_serialization import jsonutils

ACTION_KEY = "mistral_lib.actions.base.Action"
RESULT_KEY = "mistral_lib.actions.types.Result"
ADHOC_KEY = "mistral.actions.adhoc.AdHocAction"
DYNAMIC_KEY = "mistral.actions.dynamic_action.DynamicAction"
OPENSTACK_KEY = "mistral_extra.actions.openstack.base.OpenStackAction"
_MAX_ADHOC_DEPTH = 16


class WireError(ValueError):
    """A message argument that is not what Mistral's engine sends."""


@dataclass(frozen=True)
class DecodedAction:
    """An action as the engine serialized it: enough to rebuild it in a host.

    ``wrappers`` lists the serial keys of ad-hoc layers around the base
    action (outermost first); an ad-hoc action only runs its base action.
    """

    class_path: str
    class_attrs: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    serial_key: str = ACTION_KEY
    wrappers: tuple[str, ...] = ()


@dataclass(frozen=True)
class WireResult:
    """mistral-lib's ``Result(data, error, cancel)``, ready to be encoded."""

    data: Any = None
    error: Any = None
    cancel: bool = False
    #: our ErrorKind, in replies to ``action-executor call`` only (Mistral's
    #: engine never asks for it: it sends no ``action_params``)
    kind: str | None = None

    def is_error(self) -> bool:
        return self.error is not None and not self.cancel


def dumps(value: Any) -> str:
    """mistral-lib's text for a primitive (``jsonutils`` with instance conversion)."""
    text: str = jsonutils.dumps(jsonutils.to_primitive(value, convert_instances=True))
    return text


def encode(value: Any) -> str | None:
    """One argument or return value as Mistral's RPC carries it (None stays None)."""
    if value is None:
        return None
    if isinstance(value, WireResult):
        return encode_result(value)
    return dumps(value)


def encode_result(result: WireResult) -> str:
    fields = {"data": result.data, "error": result.error, "cancel": result.cancel}
    if result.kind is not None:
        fields["kind"] = result.kind
    inner = dumps(fields)
    text: str = jsonutils.dumps({"__serial_key": RESULT_KEY, "__serial_data": inner})
    return text


def decode(text: Any) -> Any:
    """A primitive argument (its JSON text); values that are not text pass through."""
    if text is None or not isinstance(text, str):
        return text
    try:
        return jsonutils.loads(text)
    except RecursionError:
        raise WireError(
            f"an argument nests too deeply to be read ({len(text)} characters): {text[:100]!r}"
        ) from None
    except ValueError as exc:
        raise WireError(f"an argument is not JSON text ({exc}): {text[:200]!r}") from None


def timeout_seconds(value: Any) -> float | None:
    """The engine's ``timeout`` (decoded): None, or seconds as a number or its text.

    Whether that many seconds make a timeout (finite, above 0) the executor
    decides, for every caller alike; here only what is no number at all is
    refused.
    """
    if value is None:
        return None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise WireError(f"the timeout is not a number of seconds: {str(value)[:100]!r}")


def decode_result(text: Any) -> WireResult | None:
    """A ``Result`` text (as in ``on_action_complete`` or a ``run_action`` reply)."""
    value = decode(text)
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("__serial_key") != RESULT_KEY:
        raise WireError(f"not a mistral-lib Result: {str(text)[:200]!r}")
    inner = decode(value["__serial_data"])
    if not isinstance(inner, dict):
        raise WireError(f"the Result's data is not an object: {str(text)[:200]!r}")
    kind = inner.get("kind")
    return WireResult(
        inner.get("data"),
        inner.get("error"),
        bool(inner.get("cancel", False)),
        kind if isinstance(kind, str) else None,
    )


def decode_action(text: Any) -> DecodedAction:
    """The ``action`` argument of ``run_action``, without importing anything of it."""
    return _decode_action(decode(text), (), 0)


def _decode_action(value: Any, wrappers: tuple[str, ...], depth: int) -> DecodedAction:
    if not isinstance(value, dict) or "__serial_key" not in value:
        raise WireError(
            "the action argument is not a serialized Mistral action (no __serial_key); "
            f"got {str(value)[:200]!r}"
        )
    key = value["__serial_key"]
    inner = decode(value.get("__serial_data"))
    if not isinstance(inner, dict):
        raise WireError(f"action {key}: __serial_data is not a JSON object")
    if key == ADHOC_KEY:
        if depth >= _MAX_ADHOC_DEPTH:
            raise WireError(f"ad-hoc actions nested deeper than {_MAX_ADHOC_DEPTH} levels")
        if "base_action" not in inner:
            raise WireError("ad-hoc action without base_action")
        return _decode_action(decode(inner["base_action"]), (*wrappers, key), depth + 1)
    if key == DYNAMIC_KEY:
        raise WireError(
            "dynamic actions (Mistral code sources) are not supported by this executor: "
            "their code lives in Mistral's database; package the action as a plugin "
            "and install it with 'action-executor install'"
        )
    if not isinstance(inner.get("cls"), str) or not inner["cls"]:
        raise WireError(f"action {key}: no class path ('cls') in {str(inner)[:200]!r}")
    attrs = inner.get("cls_attrs") or {}
    data = inner.get("data") or {}
    if not isinstance(attrs, dict) or not isinstance(data, dict):
        raise WireError(f"action {inner['cls']}: cls_attrs and data must be JSON objects")
    return DecodedAction(inner["cls"], dict(attrs), dict(data), key, wrappers)


def encode_action(action: DecodedAction) -> str:
    """The inverse of ``decode_action`` (used by tests and clients playing the engine)."""
    inner = dumps({"cls": action.class_path, "cls_attrs": action.class_attrs, "data": action.data})
    text: str = jsonutils.dumps({"__serial_key": action.serial_key, "__serial_data": inner})
    for key in reversed(action.wrappers):
        text = jsonutils.dumps({"__serial_key": key, "__serial_data": dumps({"base_action": text})})
    return text
