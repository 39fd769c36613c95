"""What the host answers: one registered function per protocol method."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

from actions_api import runtime
from actions_api.context import ActionContext
from protocol import PROTOCOL_VERSION, RUNTIME_VERSION
from protocol.endpoint import Endpoint, Handlers
from protocol.errors import ActionNotFound, VersionMismatch
from protocol.framing import DEFAULT_MAX_FRAME_SIZE
from protocol.messages import (
    ActionOutcome,
    CancelParams,
    HostInfo,
    InitializeParams,
    InitializeResult,
    ListActionsParams,
    ListActionsResult,
    RunActionParams,
)
from protocol.methods import CANCEL, INITIALIZE, LIST_ACTIONS, RUN_ACTION

from . import discovery
from .backend import RpcBackend
from .runner import run_action

log = logging.getLogger(__name__)
CAPABILITIES = ["action.run", "action.test", "actions.list", "$/cancel", "reuse", "log"]

handlers: Handlers[HostState] = Handlers()


@dataclass
class HostState:
    """Everything the handlers share inside one host process."""

    catalog: discovery.Catalog | None = None  # preloaded classes (warm template)
    #: Largest frame the executor said it accepts (``initialize``).
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    endpoint: Endpoint | None = None


def host_info() -> HostInfo:
    return HostInfo(
        interpreter=sys.executable,
        python_version=sys.version.split()[0],
        prefix=sys.prefix,
        runtime_version=RUNTIME_VERSION,
        protocol_version=PROTOCOL_VERSION,
    )


@handlers.register(INITIALIZE)
def initialize(state: HostState, params: InitializeParams) -> InitializeResult:
    state.max_frame_size = params.max_frame_size
    if state.endpoint is not None:
        state.endpoint.set_max_frame_size(params.max_frame_size)
    if params.protocol_version != PROTOCOL_VERSION:
        raise VersionMismatch(
            f"the executor speaks protocol {params.protocol_version} "
            f"(mistral-action-host {params.runtime_version}) but this host in "
            f"{sys.prefix} speaks protocol {PROTOCOL_VERSION} (mistral-action-host "
            f"{RUNTIME_VERSION}); install the executor's version of "
            "mistral-action-host into this environment",
            data={"executor": params.protocol_version, "host": PROTOCOL_VERSION},
        )
    return InitializeResult(
        protocol_version=PROTOCOL_VERSION,
        runtime_version=RUNTIME_VERSION,
        capabilities=CAPABILITIES,
        pid=os.getpid(),
        interpreter=sys.executable,
        python_version=sys.version.split()[0],
    )


def _action_class(state: HostState, name: str) -> type:
    if state.catalog is not None:
        if name in state.catalog.classes:
            return state.catalog.classes[name]
        if name in state.catalog.failures:
            failure = state.catalog.failures[name]
            raise ImportError(f"action {name!r} ({failure.target}) failed to load: {failure.error}")
    return discovery.load_one(name)


@handlers.register(RUN_ACTION, background=True)
def action_run(state: HostState, params: RunActionParams) -> ActionOutcome:
    started = time.perf_counter()
    try:
        cls = _action_class(state, params.action)
    except ActionNotFound:
        raise
    except Exception as exc:
        log.error("%s", exc)
        return ActionOutcome(
            error=f"action {params.action!r} could not be loaded: {exc}",
            failure="load_error",
            exception=type(exc).__qualname__,
        )
    load_seconds = time.perf_counter() - started
    context = ActionContext.from_dict(params.context.model_dump())
    outcome = run_action(
        cls,
        params.params,
        context,
        dry_run=params.dry_run,
        name=params.action,
        max_result_size=params.max_result_size,
        instance=params.instance,
        # Nested utils calls go back to the executor (none in the rehearsal).
        backend=RpcBackend(state.endpoint) if state.endpoint is not None else None,
    )
    timings = {"load": load_seconds, **outcome.timings}
    return outcome.model_copy(update={"host_pid": os.getpid(), "timings": timings})


@handlers.register(CANCEL)
def cancel(state: HostState, params: CancelParams) -> None:
    log.warning("cancel requested: %s", params.reason)
    runtime.request_cancel()


@handlers.register(LIST_ACTIONS)
def actions_list(state: HostState, params: ListActionsParams) -> ListActionsResult:
    catalog = state.catalog or discovery.load_all()
    return ListActionsResult(host=host_info(), actions=discovery.describe(catalog))
