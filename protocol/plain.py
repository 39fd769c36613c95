"""The host's side of the protocol: plain dicts, checked against the schema.

The executor validates with the pydantic models of ``protocol.messages``; a
host cannot afford to. Every action runs in a fresh child forked from a warm
template, and each first touch of a shared page costs the child a
copy-on-write fault: pydantic's validators and jsonrpcserver's dispatch cost
a child about 450 of them (1.8 ms of CPU) per request, and importing them
made the template twice as large (and so slower to fork). So the host's
request path is plain dicts and this module:

* ``check(schema, value)`` validates a decoded value against the JSON Schema
  in ``protocol/schema.json``, which is generated from the models (a test
  keeps the two in step), and fills in the models' defaults. The models stay
  the single source of truth; the host reads their schema, not a copy.
* ``PlainMethod`` names one method of ``protocol.methods`` by its name and
  direction, and checks its params and result.
* ``PlainHandlers`` dispatches a request to a handler that takes and returns
  dicts, answering with the same JSON-RPC errors as ``protocol.handlers``.

Only the keywords the generated schema uses are understood: ``type``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``anyOf``,
``enum``, ``$ref``, ``default``. An unknown keyword fails the schema test,
not a request.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .errors import InternalError, InvalidParams, MethodNotFound, RpcError

log = logging.getLogger(__name__)

C = TypeVar("C")
PlainHandler = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema.json")
KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "enum",
        "$ref",
        "default",
        "$defs",
        "title",
        "description",
    }
)


class SchemaMismatch(ValueError):
    """A value does not have the shape the schema requires; says where and why."""


def _load() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        methods: dict[str, Any] = json.load(f)["methods"]
        return methods


#: "direction:name" -> {"params": schema, "result": schema | None}, loaded once
#: at import (in a warm template: before it forks, so children share it).
METHODS = _load()

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list or type(v) is tuple,
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


class Checker:
    """Checks values against one schema and its ``$defs``."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.defs: dict[str, Any] = schema.get("$defs", {})

    def __call__(self, value: Any) -> Any:
        return self.check(self.schema, value, "")

    def definition(self, name: str) -> Checker:
        """A checker of one of this schema's ``$defs`` (e.g. ``SandboxSpec``)."""
        return Checker({**self.defs[name], "$defs": self.defs})

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.defs[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def check(self, schema: dict[str, Any], value: Any, where: str) -> Any:
        """``value`` with defaults filled in; raises ``SchemaMismatch``."""
        schema = self._resolve(schema)
        at = where or "the value"
        if "anyOf" in schema:
            errors = []
            for option in schema["anyOf"]:
                try:
                    return self.check(option, value, where)
                except SchemaMismatch as exc:
                    errors.append((option, exc))
            # "X or null" given something else than null: X's own complaint says more
            others = [exc for option, exc in errors if option.get("type") != "null"]
            if value is not None and len(others) == 1:
                raise others[0]
            kinds = " or ".join(self._resolve(o).get("type", "a value") for o in schema["anyOf"])
            raise SchemaMismatch(f"{at}: expected {kinds}, got {_describe(value)}")
        kind = schema.get("type")
        if kind is not None and not _TYPES[kind](value):
            raise SchemaMismatch(f"{at}: expected {kind}, got {_describe(value)}")
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaMismatch(f"{at}: expected one of {schema['enum']}, got {_describe(value)}")
        if kind == "object":
            return self._object(schema, value, where)
        if kind == "array" and "items" in schema:
            return [
                self.check(schema["items"], item, f"{where}[{i}]") for i, item in enumerate(value)
            ]
        return value

    def _object(self, schema: dict[str, Any], value: dict[Any, Any], where: str) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if type(key) is not str:
                raise SchemaMismatch(
                    f"{where or 'the value'}: key {_describe(key)} is not a string"
                )
            if key in properties:
                out[key] = self.check(properties[key], item, path)
            elif extra is False:
                known = ", ".join(sorted(properties))
                raise SchemaMismatch(f"{path}: unknown field (the fields are {known})")
            elif isinstance(extra, dict):
                out[key] = self.check(extra, item, path)
            else:
                out[key] = item
        for key in schema.get("required", ()):
            if key not in out:
                raise SchemaMismatch(f"{where + '.' if where else ''}{key}: field required")
        for key, sub in properties.items():
            if key not in out:
                out[key] = self._default(sub, f"{where}.{key}" if where else key)
        return out

    def _default(self, schema: dict[str, Any], where: str) -> Any:
        """The model's default: ``default`` in the schema, or what its
        ``default_factory`` makes (an empty container, a model of defaults)."""
        if "default" in schema:
            default = schema["default"]
            return copy.deepcopy(default) if isinstance(default, (dict, list)) else default
        resolved = self._resolve(schema)
        kind = resolved.get("type")
        if kind == "object":
            return self.check(resolved, {}, where)
        if kind == "array":
            return []
        raise SchemaMismatch(f"{where}: field required")


class PlainMethod:
    """One method of ``protocol.methods`` as the host sees it: a name, a
    direction, and checkers for its params and result from the schema."""

    def __init__(self, name: str, direction: str) -> None:
        self.name = name
        self.direction = direction
        entry = METHODS[f"{direction}:{name}"]
        self.check_params = Checker(entry["params"])
        self._result = Checker(entry["result"]) if entry["result"] is not None else None

    @property
    def is_notification(self) -> bool:
        return self._result is None

    def parse_result(self, raw: Any) -> Any:
        return self._result(raw) if self._result is not None else None


# executor -> host
INITIALIZE = PlainMethod("initialize", "to_host")
RUN_ACTION = PlainMethod("action.run", "to_host")
LIST_ACTIONS = PlainMethod("actions.list", "to_host")
CANCEL = PlainMethod("$/cancel", "to_host")
# host -> executor
REUSE_ACTION = PlainMethod("action.run", "to_executor")
LOG = PlainMethod("log", "to_executor")
# executor <-> template
FORK_CHILD = PlainMethod("child.fork", "to_template")
PRELOAD = PlainMethod("template.preload", "to_template")
CHILD_EXITED = PlainMethod("child.exited", "from_template")
TEMPLATE_READY = PlainMethod("template.ready", "from_template")
SANDBOX_SPEC = FORK_CHILD.check_params.definition("SandboxSpec")


class PlainHandlers(Generic[C]):
    """The methods a host serves: ``fn(context, params: dict) -> dict | None``.

    The same registry shape as ``protocol.handlers.Handlers`` (the executor's,
    on the models), so ``protocol.endpoint.Endpoint`` takes either.
    """

    def __init__(self) -> None:
        self._methods: dict[str, tuple[PlainMethod, PlainHandler]] = {}
        self.background: set[str] = set()

    def register(
        self, method: PlainMethod, *, background: bool = False
    ) -> Callable[[PlainHandler], PlainHandler]:
        def decorator(fn: PlainHandler) -> PlainHandler:
            self._methods[method.name] = (method, fn)
            if background:
                self.background.add(method.name)
            return fn

        return decorator

    def dispatch(self, message: dict[str, Any], context: Any) -> dict[str, Any] | None:
        """The response to one request (its envelope already checked), or None
        for a notification (whose handler runs all the same)."""
        try:
            outcome = {"result": self._call(message, context)}
        except RpcError as exc:
            outcome = {"error": exc.to_error()}
        if "id" not in message:
            return None
        return {"jsonrpc": "2.0", **outcome, "id": message["id"]}

    def _call(self, message: dict[str, Any], context: Any) -> dict[str, Any] | None:
        name = message["method"]
        entry = self._methods.get(name)
        if entry is None:
            raise MethodNotFound(data=name)
        method, fn = entry
        try:
            params = method.check_params(message.get("params", {}))
        except SchemaMismatch as exc:
            raise InvalidParams(f"invalid params for {name}: {exc}") from None
        try:
            return fn(context, params)
        except RpcError:
            raise
        except Exception as exc:
            log.exception("handler for %s failed", name)
            raise InternalError(f"{name} failed: {type(exc).__name__}: {exc}") from None
