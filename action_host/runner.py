"""Running one action and turning whatever it did into an ActionOutcome.

The host never dies of an action: a raised exception (any ``BaseException``,
``SystemExit`` included) becomes an error outcome carrying the exception's
type and message, with the traceback in the action's log.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import time
import warnings
from typing import Any

from actions_api import Action, Result
from actions_api import context as api_context
from actions_api.exceptions import SerializationError
from actions_api.serialization import from_wire, to_wire
from protocol.errors import ResultTooLarge
from protocol.framing import pack
from protocol.messages import ActionOutcome

from . import compat

log = logging.getLogger("action")


def _qualname(exc: BaseException) -> str:
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


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


def _call(action: Any, method_name: str, ctx: api_context.ActionContext) -> Any:
    method = getattr(action, method_name, None)
    if method is None and method_name == "test":  # mistral-lib actions have no test()
        return Action.test(action, ctx)
    if takes_context(getattr(type(action), method_name)):
        if compat.is_mistral_lib_action(action):
            return method(compat.mistral_lib_context(ctx))
        return method(ctx)
    cls = type(action)
    warnings.warn(
        f"{cls.__module__}.{cls.__qualname__}.{method_name}() takes no context "
        f"argument: this old-style action API is deprecated and will stop working; "
        f"define {method_name}(self, context) instead",
        DeprecationWarning,
        stacklevel=2,
    )
    return method()


def _as_result(value: Any) -> tuple[Any, Any, bool]:
    """(data, error, cancel) from a returned value; Result-like objects unpacked."""
    if isinstance(value, Result):
        return value.data, value.error, value.cancel
    cls = type(value)
    if cls.__name__ == "Result" and cls.__module__.startswith("mistral_lib"):
        return value.data, value.error, bool(getattr(value, "cancel", False))
    return value, None, False


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def run_action(
    cls: type,
    params: dict[str, Any],
    context: api_context.ActionContext,
    *,
    dry_run: bool = False,
    name: str = "",
    max_result_size: int | None = None,
) -> ActionOutcome:
    """Build ``cls(**params)``, call run (or test) and report the outcome."""
    started = time.perf_counter()
    is_sync = True
    api_context.activate(context)
    try:
        action = cls(**from_wire(params))
        is_sync = bool(action.is_sync())
        value = _call(action, "test" if dry_run else "run", context)
        data, error, cancel = _as_result(value)
        data, error = to_wire(data, "$.data"), to_wire(error, "$.error")
        if max_result_size is not None:
            size = len(pack({"data": data, "error": error}))
            if size > max_result_size:
                raise ResultTooLarge(
                    f"the result is {size} bytes encoded, more than the limit of "
                    f"{max_result_size} bytes (max_result_size); return less, or store "
                    "large data elsewhere and return a reference to it"
                )
        outcome = ActionOutcome(data=data, error=error, cancel=cancel, is_sync=is_sync)
    except ResultTooLarge as exc:
        log.error("action %s: %s", name, exc.message)
        outcome = ActionOutcome(
            error=f"{name or cls.__name__}: {exc.message}",
            error_type="ResultTooLarge",
            is_sync=is_sync,
        )
    except SerializationError as exc:
        log.error("action %s returned a value that cannot be sent: %s", name, exc)
        outcome = ActionOutcome(
            error=f"{name or cls.__name__} returned an unsupported value: {exc}",
            error_type=_qualname(exc),
            is_sync=is_sync,
        )
    except BaseException as exc:  # the host must outlive any action failure
        log.error("action %s raised %s", name or cls.__name__, _qualname(exc), exc_info=True)
        outcome = ActionOutcome(
            error=f"{type(exc).__name__}: {exc}",
            error_type=_qualname(exc),
            is_sync=is_sync,
        )
    _flush_stdio()
    run_seconds = time.perf_counter() - started
    return outcome.model_copy(update={"timings": {"run": run_seconds}})
