"""The seam between the public API and whatever runs the action.

``actions_api`` imports nothing of the host or the executor. The host that
runs an action installs a backend here at start; ``utils`` calls it.
"""

from __future__ import annotations

from typing import Any, Protocol


class Backend(Protocol):
    def run_action(
        self, name: str, params: dict[str, Any], *, dry_run: bool, timeout: float | None
    ) -> Any:
        """Run another action through the executor; returns an actions_api Result."""


_backend: Backend | None = None


def install(backend: Backend | None) -> None:
    global _backend
    _backend = backend


def get() -> Backend:
    if _backend is None:
        raise RuntimeError(
            "actions_api.utils can only run actions from inside an action that a "
            "mistral-action-host executor runs (no backend is installed in this process)"
        )
    return _backend
