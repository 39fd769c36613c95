"""The request context Mistral's executor sets before every run.

mistral-extra's OpenStack actions take their token, project and service
catalog not from the context passed to ``run()`` but from a request context
kept in mistral-lib's thread-local storage (``mistral_extra...utils.context
.ctx()``, and Mistral's own ``mistral.context.ctx()``, read the same key).
Mistral's executor sets it from the RPC context before it calls ``run()``;
so does the host, from the action's ``SecurityContext``, in the thread that
runs the action, and puts back what was there after.

Only environments that hold mistral-lib and a reader (mistral-extra or
mistral) get it: elsewhere nothing is imported and nothing is set. When
Mistral's own ``mistral.context`` is already imported (an environment
running Mistral's std actions), the context is its ``MistralContext``;
otherwise a ``RequestContext`` with the attributes readers use.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from actions_api.context import SECRET_FIELDS, SecurityContext

#: mistral-lib's thread-local key that mistral and mistral-extra both read.
KEY = "MISTRAL_APP_CTX_THREAD_LOCAL"
_READERS = ("mistral_extra", "mistral")

_wanted: bool | None = None


def wanted() -> bool:
    """Whether this environment has code that reads the request context
    (asked once per process; a warm template asks before it forks)."""
    global _wanted
    if _wanted is None:
        try:
            _wanted = importlib.util.find_spec("mistral_lib") is not None and any(
                importlib.util.find_spec(name) is not None for name in _READERS
            )
        except (ImportError, ValueError):
            _wanted = False
    return _wanted


def prime() -> None:
    """Ask ``wanted`` and import what ``enter`` needs now (a template, before
    it forks: its children inherit both)."""
    if wanted():
        import mistral_lib.utils  # noqa: F401


def service_catalog(value: Any) -> Any:
    """The catalog as Mistral passes it: keystonemiddleware's token body, a dict.

    JSON text is parsed; a whole token response (``{"token": {...}}``) is
    unwrapped to the token, as ``MistralContext.from_environ`` stores it.
    Anything else is passed on as given (the action fails as in Mistral).
    """
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict) and isinstance(value.get("token"), dict):
        return value["token"]
    return value


def values(security: SecurityContext) -> dict[str, Any]:
    """The request context's fields, in the form of ``MistralContext.to_dict()``."""
    return {
        "auth_token": security.auth_token,
        "user": security.user_id,
        "user_id": security.user_id,
        "user_name": security.user_name,
        "project_id": security.project_id,
        "project_name": security.project_name,
        "auth_uri": security.auth_uri,
        "auth_cacert": security.auth_cacert,
        "insecure": bool(security.insecure),
        "service_catalog": service_catalog(security.service_catalog),
        "region_name": security.region_name,
        "is_trust_scoped": bool(security.is_trust_scoped),
        "redelivered": bool(security.redelivered),
        "expires_at": security.expires_at,
        "trust_id": security.trust_id,
        "is_target": bool(security.is_target),
        "roles": [],
        "is_admin": False,
    }


class RequestContext:
    """What mistral-extra and Mistral's actions read from ``ctx()``, without
    importing Mistral (secrets are masked in its repr, as in our contexts)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = dict(fields)
        for name, value in fields.items():
            setattr(self, name, value)
        self.project = fields.get("project_id")
        self.root_execution_id = None
        self.request_id = None
        self.global_request_id = None
        self.domain_name = self.user_domain_name = self.project_domain_name = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self._fields)

    def __repr__(self) -> str:
        shown = {k: ("***" if k in SECRET_FIELDS and v else v) for k, v in self._fields.items()}
        return f"RequestContext({shown})"


def _context_for(security: SecurityContext) -> Any:
    fields = values(security)
    mistral_context = sys.modules.get("mistral.context")
    if mistral_context is not None:
        return mistral_context.MistralContext.from_dict(fields)
    return RequestContext(fields)


def enter(security: SecurityContext) -> tuple[Any, Any] | None:
    """Set the request context for this thread; returns what ``leave`` restores."""
    if not wanted():
        return None
    from mistral_lib import utils

    previous = utils.get_thread_local(KEY)
    utils.set_thread_local(KEY, _context_for(security))
    return utils, previous


def leave(token: tuple[Any, Any] | None) -> None:
    if token is not None:
        utils, previous = token
        utils.set_thread_local(KEY, previous)
