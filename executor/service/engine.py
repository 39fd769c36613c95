"""Talking to Mistral's engine: results, heartbeats, and how texts cross oslo.messaging.

Every argument crosses as the JSON text mistral-lib would write (see
``wire``); the serializer below lets those texts through untouched in both
directions, so what was journaled is byte-for-byte what is sent, and the
context the engine sent with ``run_action`` goes back with its result (as
Mistral's executor does: same request id, same user, same token).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import oslo_messaging as messaging

from executor.service import wire

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Raw:
    """An argument that already is its wire text."""

    text: str | None


_ENVELOPE_KEYS = frozenset({"client_timeout", "msg_id", "reply_q"})


class WireSerializer(messaging.Serializer):  # type: ignore[misc]
    """Arguments as mistral-lib JSON texts; the context as a plain dict.

    Incoming arguments stay texts (the endpoint decodes them, and journals
    them as received); outgoing ones are encoded unless already ``Raw``.
    """

    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        if isinstance(entity, Raw):
            return entity.text
        return wire.encode(entity)

    def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return entity

    def serialize_context(self, ctxt: Any) -> dict[str, Any]:
        return dict(ctxt or {})

    def deserialize_context(self, ctxt: Any) -> dict[str, Any]:
        # The AMQP driver adds its envelope fields; the engine's context is the rest.
        return {k: v for k, v in dict(ctxt or {}).items() if k not in _ENVELOPE_KEYS}


#: ``MistralContext.to_dict()`` keys with their defaults; the heartbeat
#: thread sends an admin context of this shape, as Mistral's does.
_CONTEXT_DEFAULTS: dict[str, Any] = {
    "auth_cacert": None,
    "auth_token": None,
    "auth_uri": None,
    "domain": None,
    "domain_name": None,
    "expires_at": None,
    "global_request_id": None,
    "insecure": False,
    "is_admin": False,
    "is_admin_project": True,
    "is_target": False,
    "is_trust_scoped": False,
    "project": None,
    "project_domain": None,
    "project_domain_name": None,
    "project_id": None,
    "project_name": None,
    "read_only": False,
    "redelivered": False,
    "region_name": None,
    "request_id": None,
    "resource_uuid": None,
    "roles": [],
    "root_execution_id": None,
    "service_catalog": {},
    "show_deleted": False,
    "system_scope": None,
    "trust_id": None,
    "user": None,
    "user_domain": None,
    "user_domain_name": None,
    "user_identity": "- - - - -",
    "user_name": None,
}


def admin_context() -> dict[str, Any]:
    """The context of messages no request caused (periodic heartbeats, restart reports)."""
    return {**_CONTEXT_DEFAULTS, "is_admin": True, "request_id": f"req-{uuid.uuid4()}"}


class EngineClient:
    """``on_action_complete`` and ``report_running_actions`` on the engine topic.

    ``retry`` bounds oslo.messaging's reconnection attempts per send, so a
    lost broker never blocks a caller forever: the caller keeps the result
    in the journal and tries again later.
    """

    def __init__(self, transport: Any, topic: str, timeout: float, retry: int = 3) -> None:
        self._client = messaging.get_rpc_client(
            transport,
            messaging.Target(topic=topic),
            serializer=WireSerializer(),
            timeout=timeout,
            retry=retry,
        )

    def on_action_complete(
        self, ctx: dict[str, Any], action_ex_id: str, result_text: str | None, *, call: bool
    ) -> Any:
        """Send a result: a cast for a normal completion, a call on the error path.

        Returns the engine's reply to a call (the action execution, as text).
        """
        kwargs = {
            "action_ex_id": action_ex_id,
            "result": Raw(result_text),
            "wf_action": False,
        }
        if call:
            return self._client.call(ctx, "on_action_complete", **kwargs)
        self._client.cast(ctx, "on_action_complete", **kwargs)
        return None

    def report_running_actions(self, ctx: dict[str, Any], action_ex_ids: list[str]) -> None:
        self._client.cast(ctx, "report_running_actions", action_ex_ids=list(action_ex_ids))
