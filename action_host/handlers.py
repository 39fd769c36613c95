"""What the host answers: one registered function per protocol method.

Params and results are plain dicts in wire form, checked against the schema
by ``protocol.plain`` (see there why the host does not use the models).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from actions_api import runtime
from actions_api.context import ActionContext
from protocol import PROTOCOL_VERSION, RUNTIME_VERSION
from protocol.endpoint import Endpoint
from protocol.errors import ActionNotFound, VersionMismatch
from protocol.framing import DEFAULT_MAX_FRAME_SIZE
from protocol.plain import CANCEL, INITIALIZE, LIST_ACTIONS, RUN_ACTION, PlainHandlers

from . import discovery
from .backend import RpcBackend
from .runner import outcome_dict, run_action

log = logging.getLogger(__name__)
CAPABILITIES = ["action.run", "action.test", "actions.list", "$/cancel", "reuse", "log"]

handlers: PlainHandlers[HostContext] = PlainHandlers()


@dataclass
class HostContext:
    """Everything the handlers share inside one host process."""

    catalog: discovery.Catalog | None = None  # preloaded classes (warm template)
    #: Largest frame the executor said it accepts (``initialize``).
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    endpoint: Endpoint | None = None


def host_info() -> dict[str, Any]:
    """``protocol.messages.HostInfo`` of this host."""
    return {
        "interpreter": sys.executable,
        "python_version": sys.version.split()[0],
        "prefix": sys.prefix,
        "runtime_version": RUNTIME_VERSION,
        "protocol_version": PROTOCOL_VERSION,
    }


@handlers.register(INITIALIZE)
def initialize(state: HostContext, params: dict[str, Any]) -> dict[str, Any]:
    state.max_frame_size = params["max_frame_size"]
    if state.endpoint is not None:
        state.endpoint.set_max_frame_size(params["max_frame_size"])
    if params["protocol_version"] != PROTOCOL_VERSION:
        raise VersionMismatch(
            f"the executor speaks protocol {params['protocol_version']} "
            f"(mistral-action-host {params['runtime_version']}) but this host in "
            f"{sys.prefix} speaks protocol {PROTOCOL_VERSION} (mistral-action-host "
            f"{RUNTIME_VERSION}); install the executor's version of "
            "mistral-action-host into this environment",
            data={"executor": params["protocol_version"], "host": PROTOCOL_VERSION},
        )
    return {
        "protocol_version": PROTOCOL_VERSION,
        "runtime_version": RUNTIME_VERSION,
        "capabilities": CAPABILITIES,
        "pid": os.getpid(),
        "interpreter": sys.executable,
        "python_version": sys.version.split()[0],
    }


def _action_class(state: HostContext, name: str) -> type:
    if state.catalog is not None:
        if name in state.catalog.classes:
            return state.catalog.classes[name]
        if name in state.catalog.failures:
            failure = state.catalog.failures[name]
            raise ImportError(f"action {name!r} ({failure.target}) failed to load: {failure.error}")
    return discovery.load_one(name)


@handlers.register(RUN_ACTION, background=True)
def action_run(state: HostContext, params: dict[str, Any]) -> dict[str, Any]:
    """``action.run``: params are ``RunActionParams``, the answer an ``ActionOutcome``."""
    started = time.perf_counter()
    name = params["action"]
    try:
        cls = _action_class(state, name)
    except ActionNotFound:
        raise
    except Exception as exc:
        log.error("%s", exc)
        return outcome_dict(
            error=f"action {name!r} could not be loaded: {exc}",
            failure="load_error",
            exception=type(exc).__qualname__,
        )
    load_seconds = time.perf_counter() - started
    outcome = run_action(
        cls,
        params["params"],
        ActionContext.from_dict(params["context"]),
        dry_run=params["dry_run"],
        name=name,
        max_result_size=params["max_result_size"],
        instance=params["instance"],
        # Nested utils calls go back to the executor (none in the rehearsal).
        backend=RpcBackend(state.endpoint) if state.endpoint is not None else None,
    )
    outcome["host_pid"] = os.getpid()
    outcome["timings"] = {"load": load_seconds, **outcome["timings"]}
    return outcome


@handlers.register(CANCEL)
def cancel(state: HostContext, params: dict[str, Any]) -> None:
    log.warning("cancel requested: %s", params["reason"])
    runtime.request_cancel()


@handlers.register(LIST_ACTIONS)
def actions_list(state: HostContext, params: dict[str, Any]) -> dict[str, Any]:
    """``ListActionsResult``: describing entry points is no hot path, so the
    models are imported here, in the host that lists (never in a template)."""
    from . import describe

    catalog = state.catalog
    if catalog is None or not catalog.complete:
        catalog = discovery.load_all()
    return {
        "host": host_info(),
        "actions": [info.model_dump() for info in describe.describe(catalog)],
        "notices": [],
    }
