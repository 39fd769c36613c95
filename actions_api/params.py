"""An action's parameters are its ``__init__``'s keyword arguments (as in
mistral-lib): the check a request meets before the action is built.

The executor checks a request the same way, from its index of the actions
(``executor/environments/params.py``, which cannot import this package), with
the same text; ``tests/test_actions_testing.py`` compares the two, so the
author's test kit refuses exactly what the executor refuses.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["invalid_input"]


def _default_text(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def invalid_input(cls: type, params: Mapping[str, Any], name: str) -> str | None:
    """None if ``params`` fit ``cls``'s parameters, else the executor's
    message naming what is missing or unexpected and the signature."""
    init = cls.__init__  # type: ignore[misc]
    if init is object.__init__:
        found: list[inspect.Parameter] = []
    else:
        found = list(inspect.signature(init).parameters.values())[1:]
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in found)
    named = [p for p in found if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    missing = [p.name for p in named if p.default is p.empty and p.name not in params]
    known = {p.name for p in named}
    unexpected = [] if accepts_any else sorted(set(params) - known)
    if not missing and not unexpected:
        return None
    problems = []
    if missing:
        problems.append(f"missing required parameter(s): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected parameter(s): {', '.join(unexpected)}")
    parts = [
        p.name if p.default is p.empty else f"{p.name}={_default_text(p.default)}" for p in named
    ]
    if accepts_any:
        parts.append("**kwargs")
    signature = ", ".join(parts) or "no parameters"
    return f"invalid input for action {name!r}: {'; '.join(problems)} ({name} takes: {signature})"
