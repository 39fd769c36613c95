"""Optional dependencies of the std actions, imported when an action runs.

The modules stay importable without them, so ``action-host --inspect``
lists every std action; running one whose library is missing fails with a
message that says what to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from actions_api import ActionException


def require(module: str, action: str, distribution: str | None = None) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ActionException(
            f"{action} needs the Python package {distribution or module!r}, which this "
            f"environment cannot import ({exc}); install mistral-action-host[std] into "
            "the environment that runs the action"
        ) from None
