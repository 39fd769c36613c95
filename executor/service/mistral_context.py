"""Mistral's context -> our ``ActionContext``: what the engine sent, as the host reads it.

The engine sends an oslo.context dict with the request and an ``exec_ctx``
argument; the action gets mistral-lib's ``context.security`` and
``context.execution``. The fields taken are those of the protocol's context
models (``protocol.messages``), so a field added there reaches actions from
the service too, with no list here to forget.
"""

from __future__ import annotations

from typing import Any

from protocol.messages import ExecutionContextModel, SecurityContextModel

#: Ours, not the engine's: ``user_id`` is read from oslo.context's "user" too,
#: ``parent_actions`` is the chain of nested runs the executor keeps.
_DERIVED_SECURITY = frozenset({"user_id"})
_EXECUTOR_ONLY = frozenset({"parent_actions"})

SECURITY_FIELDS = tuple(n for n in SecurityContextModel.model_fields if n not in _DERIVED_SECURITY)
EXECUTION_FIELDS = tuple(n for n in ExecutionContextModel.model_fields if n not in _EXECUTOR_ONLY)


def security_context(ctx: dict[str, Any], redelivered: bool) -> dict[str, Any]:
    sec = {name: ctx.get(name) for name in SECURITY_FIELDS}
    sec["user_id"] = ctx.get("user_id") or ctx.get("user")  # oslo.context: "user"
    if sec["expires_at"] is not None:
        sec["expires_at"] = str(sec["expires_at"])
    if redelivered:
        sec["redelivered"] = True
    return sec


def execution_context(exec_ctx: Any, action_ex_id: str | None) -> dict[str, Any]:
    given = exec_ctx if isinstance(exec_ctx, dict) else {}
    out = {k: given[k] for k in EXECUTION_FIELDS if given.get(k) is not None}
    if action_ex_id and not out.get("action_execution_id"):
        out["action_execution_id"] = action_ex_id
    return out


def action_context(
    ctx: dict[str, Any], exec_ctx: Any, action_ex_id: str | None, rerun: bool
) -> dict[str, Any]:
    """The ``context`` of ``Executor.run_instance`` for one ``run_action``;
    a run again after a restart is marked ``redelivered``, as Mistral's is."""
    return {
        "security": security_context(ctx, rerun),
        "execution": execution_context(exec_ctx, action_ex_id),
    }
