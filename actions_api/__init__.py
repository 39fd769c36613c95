"""The public API for action authors.

Import what you need from here::

    from actions_api import Action, ActionContext, ActionException, Result

Modules: ``action`` (the base class), ``result``, ``context`` (security and
execution contexts, ``current()``), ``utils`` (run other actions through the
executor), ``serialization`` (what may cross the process boundary),
``secrets`` (masking), ``openstack`` (keystoneauth sessions and endpoints
from the security context), ``exceptions``.
This package depends on nothing else of mistral-action-host: the host that
runs your action plugs its machinery in at start.
"""

from __future__ import annotations

from .action import Action
from .context import ActionContext, ExecutionContext, SecurityContext
from .exceptions import ActionException, SerializationError
from .result import Result

__all__ = [
    "Action",
    "ActionContext",
    "ActionException",
    "ExecutionContext",
    "Result",
    "SecurityContext",
    "SerializationError",
]
