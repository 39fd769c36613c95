"""A small client of Mistral's executor RPC: run an action on one executor, by name.

Mistral documents task affinity (``target: <executor host>``) but its
engine never routes by it. With this client (or an engine patched to pass
``server=``) an action goes to the per-host queue of the executors whose
``[executor] host`` is that name; without a host it goes to the shared
topic, as Mistral sends it::

    client = ExecutorClient("rabbit://guest:guest@127.0.0.1:5672/")
    result = client.run_action(
        "mistral.actions.std_actions.EchoAction", {"output": "hi", "_delay": 0.0},
        host="gpu-node-1", wait=True,
    )
    assert result.data == "hi"
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

from executor.service import wire
from executor.service.engine import Raw, WireSerializer, admin_context

#: Option groups oslo.messaging registers only on the global ``cfg.CONF`` (at
#: import) but reads from the configuration object it is given.
_GLOBAL_ONLY_GROUPS = (
    ("oslo_messaging._tracing.client", "oslo_messaging_tracing"),
    ("oslo_messaging._metrics.client", "oslo_messaging_metrics"),
)


def rpc_conf(transport_url: str, control_exchange: str = "openstack") -> cfg.ConfigOpts:
    """A private configuration fit for oslo.messaging clients and servers.

    oslo.messaging registers its tracing and metrics options only on the
    global ``cfg.CONF`` but reads them from the one it is given; a private
    object without them makes every send fail and every received message
    vanish (after it was acknowledged).
    """
    conf = cfg.ConfigOpts()
    conf([], project="mistral-action-host-client", default_config_files=[])
    for module_name, group in _GLOBAL_ONLY_GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # an oslo.messaging without that feature
            continue
        opts = getattr(module, group, None)
        if opts:
            conf.register_opts(opts, group=group)
    transport = messaging.get_rpc_transport(conf, url=transport_url)  # registers the options
    transport.cleanup()
    conf.set_override("control_exchange", control_exchange)
    conf.set_override("transport_url", transport_url)
    return conf


class NoExecutorAnswered(TimeoutError):
    """A call's Result did not come within its timeout: no executor consumes
    that topic (or host), or none finished in time."""


class ExecutorClient:
    """``run_action`` on the executor topic, to any executor or one by host name."""

    def __init__(
        self,
        transport_url: str,
        *,
        topic: str = "mistral_executor",
        control_exchange: str = "openstack",
        timeout: int = 60,
        conf: cfg.ConfigOpts | None = None,
    ) -> None:
        self.conf = conf or rpc_conf(transport_url, control_exchange)
        self.transport = messaging.get_rpc_transport(self.conf, url=transport_url)
        self.topic = topic
        self._client = messaging.get_rpc_client(
            self.transport,
            messaging.Target(topic=topic),
            serializer=WireSerializer(),
            timeout=timeout,
        )

    def run_action(
        self,
        action: str | wire.DecodedAction,
        data: dict[str, Any] | None = None,
        *,
        class_attrs: dict[str, Any] | None = None,
        action_ex_id: str | None = None,
        safe_rerun: bool = False,
        exec_ctx: dict[str, Any] | None = None,
        timeout: float | None = None,
        host: str | None = None,
        context: dict[str, Any] | None = None,
        wait: bool = False,
        params: dict[str, Any] | None = None,
    ) -> wire.WireResult | None:
        """Send ``run_action``; ``host`` picks one executor, ``wait`` makes it a call.

        ``action`` is a class path (``data``: its instance attributes,
        ``class_attrs``: class attributes) or a ``wire.DecodedAction``. With
        ``wait`` the Result comes back (for an action with an
        ``action_ex_id`` Mistral's executor sends errors to the engine and
        replies None); without it the engine topic gets the result. ``params``
        (not Mistral's: ``action-executor call``) makes ``action`` a registered
        name, e.g. ``std.echo``, run with these parameters as ``action-executor
        run`` would run it.
        """
        if isinstance(action, str):
            action = wire.DecodedAction(action, dict(class_attrs or {}), dict(data or {}))
        ctx = context or {**admin_context(), "is_admin": False}
        client = self._client.prepare(server=host) if host else self._client
        kwargs = {
            "action": Raw(wire.encode_action(action)),
            "action_ex_id": action_ex_id,
            "safe_rerun": safe_rerun,
            "exec_ctx": exec_ctx or {},
            "timeout": timeout,
        }
        if params is not None:
            kwargs["action_params"] = params
        if not wait:
            client.cast(ctx, "run_action", **kwargs)
            return None
        try:
            return wire.decode_result(client.call(ctx, "run_action", **kwargs))
        except messaging.MessagingTimeout as exc:
            raise NoExecutorAnswered(str(exc)) from None

    def close(self) -> None:
        self.transport.cleanup()

    def __enter__(self) -> ExecutorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_action_ex_id() -> str:
    return str(uuid.uuid4())
