"""The executor's side of dispatch: handlers on the pydantic models.

A request's params are validated into the method's params model and the
handler's result model is dumped; jsonrpcserver does the dispatch and the
JSON-RPC error mapping. Hosts use ``protocol.plain`` instead (plain dicts,
checked against the schema generated from the same models): these tools
cost a freshly forked child too many page faults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from jsonrpcserver import Error, Success
from jsonrpcserver.main import dispatch_to_response
from jsonrpcserver.response import to_serializable_one
from jsonrpcserver.sentinels import NODATA
from pydantic import ValidationError

from .errors import InternalError, InvalidParams, RpcError
from .methods import MethodSpec

log = logging.getLogger(__name__)

C = TypeVar("C")
HandlerT = Callable[[Any, Any], Any]


def _identity(value: Any) -> Any:
    return value


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

    def dispatch(self, message: dict[str, Any], context: Any) -> dict[str, Any] | None:
        """The response to one request (envelope already checked), or None."""
        # jsonrpcserver types the request as JSON text; with the identity
        # deserializer it takes the decoded message as it is.
        request = cast(str, message)
        response = dispatch_to_response(
            request,
            self._methods,
            context=context,
            deserializer=_identity,
            validator=_identity,
            post_process=to_serializable_one,
        )
        return cast("dict[str, Any] | None", response)


def _jsonrpc_method(spec: MethodSpec[Any, Any], fn: HandlerT) -> Callable[..., Any]:
    def method(context: Any, /, **raw: Any) -> Any:
        try:
            params = spec.params.model_validate(raw)
        except ValidationError as exc:
            return Error(InvalidParams.code, f"invalid params for {spec.name}: {exc}")
        try:
            result = fn(context, params)
        except RpcError as exc:
            return Error(exc.code, exc.message, NODATA if exc.data is None else exc.data)
        except Exception as exc:
            log.exception("handler for %s failed", spec.name)
            return Error(InternalError.code, f"{spec.name} failed: {type(exc).__name__}: {exc}")
        if result is None:
            return Success(None)
        return Success(result.model_dump())

    method.__name__ = spec.name
    return method
