"""Checking a request's parameters against an action's signature, before any host starts.

An action's parameters are its ``__init__`` keyword arguments (as in
mistral-lib); the index knows them without importing the action, so a bad
request is refused with a message that shows the signature.
"""

from __future__ import annotations

from protocol.messages import ActionInfo


def check_params(info: ActionInfo, params: dict[str, object]) -> str | None:
    """None if ``params`` fit the action's signature, else a message naming the problem."""
    known = {p.name for p in info.params}
    missing = [p.name for p in info.params if p.required and p.name not in params]
    unexpected = [] if info.accepts_any_params else sorted(set(params) - known)
    if not missing and not unexpected:
        return None
    problems = []
    if missing:
        problems.append(f"missing required parameter(s): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected parameter(s): {', '.join(unexpected)}")
    return (
        f"invalid input for action {info.name!r}: {'; '.join(problems)} "
        f"({info.name} takes: {info.signature() or 'no parameters'})"
    )
