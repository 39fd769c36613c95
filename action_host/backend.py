"""The host's backend for ``actions_api.utils``: reuse goes back to the executor.

``RpcBackend`` is the host's ``actions_api.runtime.Backend``: the run handler
gives one to ``runtime.begin`` for each action run, and the action's nested
``utils`` calls become ``reuse`` requests on the executor channel.
"""

from __future__ import annotations

from typing import Any

from actions_api import Result
from actions_api.serialization import from_wire, to_wire
from protocol.endpoint import Endpoint
from protocol.errors import FrameTooLarge, ProtocolError, RpcError
from protocol.plain import REUSE_ACTION


class RpcBackend:
    """Sends nested action calls to the executor over the host's endpoint."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def run_action(
        self, name: str, params: dict[str, Any], *, dry_run: bool, timeout: float | None
    ) -> Result:
        request = REUSE_ACTION.check_params(
            {
                "action": name,
                "params": to_wire(params, "$.params"),
                "dry_run": dry_run,
                "timeout": timeout,
            }
        )
        try:
            # No local timeout: the executor answers or kills this host by the deadline.
            outcome = self.endpoint.call(REUSE_ACTION, request).result()
        except RpcError as exc:
            return Result(error=exc.message)
        except FrameTooLarge as exc:  # nothing was sent; the channel is fine
            return Result(error=f"cannot run {name}: its parameters are too large: {exc}")
        except ProtocolError as exc:
            raise RuntimeError(f"lost the channel to the executor: {exc}") from None
        return Result(from_wire(outcome["data"]), from_wire(outcome["error"]), outcome["cancel"])
