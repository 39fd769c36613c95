"""Running one action and turning whatever it did into an ActionOutcome.

The host never dies of an action: a raised exception (any ``BaseException``,
``SystemExit`` included) becomes an error outcome carrying the exception's
type and message, with the traceback in the action's log. That rule lives in
``actions_api.outcome``, shared with ``actions_api.testing``, so unit tests of
an action see what the executor would return.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from actions_api import outcome as shared
from actions_api import runtime
from actions_api.context import ActionContext
from actions_api.outcome import takes_context as takes_context  # template.py primes it
from actions_api.serialization import from_wire
from protocol.errors import ResultTooLarge
from protocol.framing import pack

from . import compat, request_context

log = logging.getLogger("action")

#: Bytes the encoding of ``{"data": None, "error": <text>}`` adds to the text.
_ENVELOPE = 32


def outcome_dict(
    data: Any = None,
    error: Any = None,
    *,
    cancel: bool = False,
    failure: str | None = None,
    exception: str | None = None,
    is_sync: bool = True,
) -> dict[str, Any]:
    """An ``ActionOutcome`` in wire form (the executor validates it with the model)."""
    return {
        "data": data,
        "error": error,
        "cancel": cancel,
        "failure": failure,
        "exception": exception,
        "is_sync": is_sync,
        "host_pid": None,
        "timings": {},
    }


def _context_for(action: Any, ctx: ActionContext) -> Any:
    """mistral-lib actions get a mistral-lib context; ours get ours."""
    return compat.mistral_lib_context(ctx) if compat.is_mistral_lib_action(action) else ctx


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _build(cls: type, params: dict[str, Any], instance: dict[str, Any] | None) -> Any:
    """``cls(**params)``; or, for an object Mistral's engine serialized, the way
    mistral-lib rebuilds it: a subclass holding the class attributes, an object
    made without ``__init__``, its instance attributes set one by one."""
    if instance is None:
        return cls(**from_wire(params))
    if instance["class_attrs"]:
        attrs: dict[str, Any] = from_wire(instance["class_attrs"])
        cls = type(cls.__name__, (cls,), attrs)
    built: Any = cls  # mypy reads type.__new__ here, not the action class's own
    action = built.__new__(built)
    for key, value in from_wire(instance["data"]).items():
        setattr(action, key, value)
    return action


def _within(
    outcome: dict[str, Any], done: shared.Outcome, max_result_size: int, name: str, label: str
) -> dict[str, Any]:
    """The outcome under ``max_result_size`` encoded: a failure's own text (an
    exception's message) cut, with room left for the rest of the encoded
    outcome; a result over the limit replaced by the failure that says so."""
    if done.failure is not None:
        if isinstance(done.error, str):
            outcome["error"] = shared.limit_error_text(
                done.error, max(0, max_result_size - _ENVELOPE), max_result_size
            )
        return outcome
    size = len(pack({"data": done.data, "error": done.error}))
    if size <= max_result_size:
        return outcome
    exc = ResultTooLarge(
        f"the result is {size} bytes encoded, more than the limit of "
        f"{max_result_size} bytes (max_result_size); return less, or store "
        "large data elsewhere and return a reference to it"
    )
    log.error("action %s: %s", name, exc.message)
    return outcome_dict(
        error=f"{label}: {exc.message}", failure="result_too_large", is_sync=done.is_sync
    )


def run_action(
    cls: type,
    params: dict[str, Any],
    context: ActionContext,
    *,
    dry_run: bool = False,
    name: str = "",
    max_result_size: int | None = None,
    backend: runtime.Backend | None = None,
    instance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build ``cls(**params)``, call run (or test) and report the outcome
    (an ``ActionOutcome`` in wire form).

    The normalisation is ``actions_api.outcome.perform``, the same that
    ``actions_api.testing`` uses; this adds the size limit and the wire message.
    """
    started = time.perf_counter()
    label = name or cls.__name__
    run = runtime.begin(context, backend, action=name)
    mistral_request = request_context.enter(context.security)
    try:
        done = shared.perform(
            lambda: _build(cls, params, instance),
            context,
            dry_run=dry_run,
            label=label,
            adapt_context=_context_for,
        )
    finally:
        request_context.leave(mistral_request)
        runtime.end(run)
    outcome = outcome_dict(
        done.data,
        done.error,
        cancel=done.cancel,
        failure=done.failure,
        exception=done.exception,
        is_sync=done.is_sync,
    )
    if max_result_size is not None:
        outcome = _within(outcome, done, max_result_size, name, label)
    _flush_stdio()
    outcome["timings"] = {"run": time.perf_counter() - started}
    return outcome
