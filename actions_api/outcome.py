"""How a run of an action ends: one rule, shared by the host and by tests.

The sandboxed host and ``actions_api.testing`` both call ``perform``, so a
unit test sees exactly the data, error text and error type that the
executor would return for the same action:

* a returned value is ``data``; a returned ``Result`` (ours or mistral-lib's)
  is unpacked into ``data``, ``error`` and ``cancel``;
* a raised exception (any ``BaseException``: the host must outlive
  ``SystemExit`` too) is ``error="<Type>: <message>"``, ``failure="raised"``
  and the qualified type name as ``exception``; its traceback is logged;
* a result value that is not plain data is converted the way Mistral's
  executor would (``serialization.mistral_primitive``, with a log line per
  value); in strict mode (``serialization.set_strict``), or when even
  Mistral could not convert it, it is an error naming its path,
  ``failure="not_serializable"``;
* an error text longer than the caller's size limit (an exception with a
  10 MiB message) is cut to fit by ``limit_error_text``, with a marker
  naming its real size: the limit holds for errors as for data.

Action authors need not import this; hosts do.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from . import serialization
from .action import Action
from .context import ActionContext
from .exceptions import SerializationError
from .result import Result
from .serialization import to_wire

__all__ = [
    "Failure",
    "Outcome",
    "as_result",
    "error_text",
    "limit_error_text",
    "perform",
    "qualname",
    "takes_context",
]

#: ``invalid_input``: the parameters did not fit the action (testing.run; the
#: executor refuses such a request before any host starts).
Failure = Literal["raised", "not_serializable", "invalid_input"]

#: The log of the action's run: the host sends it to the executor, pytest captures it.
log = logging.getLogger("action")


@dataclass(frozen=True)
class Outcome:
    """What one run ended with; ``data`` and ``error`` are in wire form (``to_wire``)."""

    data: Any = None
    error: Any = None
    cancel: bool = False
    #: Why there is no result of the action's own: it ``"raised"``, its result
    #: is ``"not_serializable"``, or its parameters were ``"invalid_input"``;
    #: None when it returned normally.
    failure: Failure | None = None
    #: Qualified type name of the exception behind ``failure`` (``"ValueError"``).
    exception: str | None = None
    is_sync: bool = True
    #: That exception itself (the host logs it; a test may re-raise it).
    raised: BaseException | None = None


def limit_error_text(text: str, max_bytes: int, limit: int | None = None) -> str:
    """``text`` if it is at most ``max_bytes`` in UTF-8; else its start, cut so
    that it and a marker naming the original size fit in ``max_bytes``.

    ``limit`` is the limit the marker names (default ``max_bytes``): the
    caller's ``max_result_size``, of which the text gets a little less.
    """
    size = len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
    if size <= max_bytes:
        return text
    marker = (
        f" [... error text cut: it was {size} bytes, more than the limit of "
        f"{max_bytes if limit is None else limit} bytes (max_result_size)]"
    )
    room = max_bytes - len(marker)
    if room <= 0:
        return marker
    return text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore") + marker


_NO_MESSAGE = "no message; the traceback is in the action's log"


def error_text(exc: BaseException) -> str:
    """``<Type>: <message>``, never a bare ``failed: ``.

    An exception without a message says so; a message that ends in a colon
    (``"NovaAction.servers.list failed: %s" % e`` with an ``e`` that has no
    message, as mistral-extra's actions wrap everything) names the
    exception it was raised from, which is the one that says what went wrong.
    """
    name = type(exc).__name__
    text = str(exc)
    stripped = text.rstrip()
    if stripped and not stripped.endswith(":"):
        return f"{name}: {text}"
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is None:
        if stripped:
            return f"{name}: {stripped} (no detail; the traceback is in the action's log)"
        return f"{name}: ({_NO_MESSAGE})"
    detail = str(cause).strip()
    described = f"{qualname(cause)}: {detail}" if detail else f"{qualname(cause)} ({_NO_MESSAGE})"
    if stripped:
        return f"{name}: {stripped} {described}"
    return f"{name}: (no message; raised while handling {described})"


def qualname(exc: BaseException) -> str:
    """``ValueError`` for builtins, ``package.module.Error`` for everything else."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.lru_cache(maxsize=1024)
def takes_context(function: Any) -> bool:
    """Whether ``run``/``test`` accept a context (new API) or not (old API).

    Cached per function; a warm template primes it for every preloaded action
    so forked children never pay for ``inspect.signature``.
    """
    try:
        params = list(inspect.signature(function).parameters.values())[1:]
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return bool(positional) or any(p.kind is p.VAR_POSITIONAL for p in params)


def as_result(value: Any) -> tuple[Any, Any, bool]:
    """(data, error, cancel) from a returned value; Result-like objects unpacked."""
    if isinstance(value, Result):
        return value.data, value.error, value.cancel
    cls = type(value)
    if cls.__name__ == "Result" and cls.__module__.startswith("mistral_lib"):
        return value.data, value.error, bool(getattr(value, "cancel", False))
    return value, None, False


def _definition_site(cls: type, function: Any) -> tuple[str, int]:
    """File and line where the author defined ``function`` (else ``cls``)."""
    code = getattr(function, "__code__", None)
    if code is not None:
        return code.co_filename, code.co_firstlineno
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None) or cls.__module__, 1


def _warn_old_style(cls: type, method_name: str, function: Any) -> None:
    """The deprecation, attributed to the author's ``def`` line, not to the host."""
    filename, lineno = _definition_site(cls, function)
    module = sys.modules.get(cls.__module__)
    module_globals = vars(module) if module is not None else None
    registry = module_globals.setdefault("__warningregistry__", {}) if module_globals else None
    warnings.warn_explicit(
        f"{cls.__module__}.{cls.__qualname__}.{method_name}() takes no context "
        f"argument: this old-style action API is deprecated and will stop working; "
        f"define {method_name}(self, context) instead",
        DeprecationWarning,
        filename,
        lineno,
        module=cls.__module__,
        registry=registry,
        module_globals=module_globals,
    )


def call(
    action: Any,
    method_name: str,
    context: ActionContext,
    adapt_context: Callable[[Any, ActionContext], Any] | None = None,
) -> Any:
    """Call ``run`` or ``test`` the way its signature asks for.

    ``adapt_context(action, context)`` may turn the context into what the
    action expects (the host gives mistral-lib actions a mistral-lib context).
    An old-style method without a context argument is called bare, with a
    DeprecationWarning at its definition.
    """
    method = getattr(action, method_name, None)
    if method is None:
        if method_name == "test":  # mistral-lib actions have no test()
            return Action.test(action, context)
        raise TypeError(
            f"{type(action).__qualname__} has no {method_name}() method; "
            f"an action defines {method_name}(self, context)"
        )
    function = getattr(type(action), method_name)
    if takes_context(function):
        return method(adapt_context(action, context) if adapt_context else context)
    _warn_old_style(type(action), method_name, function)
    return method()


def perform(
    build: Callable[[], Any],
    context: ActionContext,
    *,
    dry_run: bool = False,
    label: str = "",
    adapt_context: Callable[[Any, ActionContext], Any] | None = None,
) -> Outcome:
    """Build the action with ``build()``, call ``run`` (or ``test``), normalise the end.

    ``label`` names the action in error texts and logs. Never raises: every
    failure of the action, of building it, or of sending its result is an
    error ``Outcome``. The caller makes the run current (``runtime.begin``).
    """
    is_sync = True
    try:
        action = build()
        label = label or type(action).__name__
        is_sync = bool(action.is_sync())
        value = call(action, "test" if dry_run else "run", context, adapt_context)
        data, error, cancel = as_result(value)
        lenient = not serialization.is_strict()
        data = to_wire(data, "$.data", mistral_compatible=lenient)
        error = to_wire(error, "$.error", mistral_compatible=lenient)
        return Outcome(data=data, error=error, cancel=cancel, is_sync=is_sync)
    except SerializationError as exc:
        log.error("action %s returned a value that cannot be sent: %s", label, exc)
        return Outcome(
            error=f"{label} returned an unsupported value: {exc}",
            failure="not_serializable",
            exception=qualname(exc),
            is_sync=is_sync,
            raised=exc,
        )
    except BaseException as exc:  # the host must outlive any action failure
        log.error("action %s raised %s", label, qualname(exc), exc_info=True)
        return Outcome(
            error=error_text(exc),
            failure="raised",
            exception=qualname(exc),
            is_sync=is_sync,
            raised=exc,
        )
