"""Running actions written against mistral-lib, unchanged.

A subclass of ``mistral_lib.actions.Action`` gets a mistral-lib
``ActionContext`` with the same fields as ours (its constructors are asked
which keywords they take, so older mistral-lib releases work too), and its
mistral-lib ``Result`` converts like ours. mistral-lib is imported only when
such an action runs, from the action's own environment.
"""

from __future__ import annotations

import inspect
from typing import Any

from actions_api.context import ActionContext


def is_mistral_lib_action(action: Any) -> bool:
    return any(
        cls.__module__.startswith("mistral_lib.") and cls.__name__ == "Action"
        for cls in type(action).__mro__
    )


def _accepted(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(cls).parameters  # the constructor's keywords
    return {k: v for k, v in values.items() if k in params}


def mistral_lib_context(ctx: ActionContext) -> Any:
    from mistral_lib.actions import context as ml

    security = ml.SecurityContext(**_accepted(ml.SecurityContext, ctx.security.to_dict()))
    execution = ml.ExecutionContext(**_accepted(ml.ExecutionContext, ctx.execution.to_dict()))
    return ml.ActionContext(security_ctx=security, execution_ctx=execution)
