"""The RPC endpoint Mistral's engine calls: ``run_action``.

oslo.messaging exposes every public method of an endpoint as an RPC method
and reads an attribute named ``target`` as the endpoint's
``oslo_messaging.Target``: this object has one public method and nothing
named ``target``. Whether a message is a call (``run_sync``: the engine
waits for the Result as the reply) or a cast is not visible to an endpoint;
``RpcServer`` records it per worker thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Protocol

from oslo_messaging.rpc import server as rpc_server

from executor.deadline import Deadline

log = logging.getLogger(__name__)
_incoming = threading.local()


def current_is_call() -> bool:
    """True while an RPC worker thread handles a call (the sender waits for a reply)."""
    return bool(getattr(_incoming, "is_call", False))


class RpcServer(rpc_server.RPCServer):  # type: ignore[misc]
    """oslo.messaging's RPC server, telling the endpoint whether a reply is awaited,
    and acknowledging a request only once the endpoint has handled it.

    A cast returns at once (the action is queued under the executor's own
    concurrency limit); only a call keeps an oslo worker thread until its
    action ends.

    oslo's rabbit listener acknowledges a request as it reads it, before it
    is dispatched: a process killed in between lost it. Here the consumers
    hand requests over unacknowledged, and the acknowledgement is queued on
    the listener's own thread (kombu is not thread-safe) after the endpoint
    returned: for ``run_action``, after the journal holds the run. A kill
    before that leaves the request with the broker, which delivers it again;
    the service drops a second delivery of an id it knows.
    """

    _acks_deferred = False

    def _create_listener(self) -> Any:
        listener = super()._create_listener()
        try:
            self._acks_deferred = _defer_acks(listener)
        except Exception:
            log.exception("requests are acknowledged as they are read (oslo's way)")
        return listener

    def _process_incoming(self, incoming: Any) -> None:
        # ``msg_id`` is made up for casts too; only a call names a reply queue.
        message = incoming[0]
        reply_to = getattr(message, "orig_msg_id", None) or getattr(message, "reply_q", None)
        _incoming.is_call = reply_to is not None
        try:
            super()._process_incoming(incoming)
        finally:
            _incoming.is_call = False
            if self._acks_deferred:
                _acknowledge(message)

    def finish(self, timeout: float) -> None:
        """``wait()``, once every handled request's acknowledgement has gone out.

        ``cleanup()`` stops the thread that sends them; one still queued then
        would return the request to the queue, to be run a second time.
        """
        self._work_executor.shutdown(wait=True)
        tasks = getattr(_message_operations(self.listener), "_tasks", None)
        deadline = Deadline.after(timeout)
        while tasks is not None and not tasks.empty() and not deadline.expired():
            time.sleep(0.01)
        self.wait()

    def stop_taking(self) -> None:
        """``stop()``, and give the broker back what it still pushes.

        oslo.messaging's rabbit listener acknowledges a request as it reads
        it and only then queues it for dispatch. After ``stop()`` nothing
        dispatches, yet the connection keeps reading until ``cleanup()`` (its
        heartbeat thread, the consumers' cancel, the fanout queue's delete):
        every request the broker still delivered was acknowledged and
        dropped. So, once the poll thread has ended: each consumer's callback
        rejects with requeue, the consumers are cancelled (the broker sends
        nothing more; the queue keeps it for other executors or the next
        start), and what was read and acknowledged meanwhile is dispatched
        like everything read before. (``stop`` itself is one of oslo's
        ordered tasks and cannot be overridden.)
        """
        self.stop()
        try:
            _cancel_consumers(self.listener)
        except Exception:  # a driver other than rabbit, or one of another shape
            log.exception("could not cancel the RPC consumers; requests may be lost at exit")


def _requeue(message: Any) -> None:
    message.requeue()


def _message_operations(listener: Any) -> Any:
    poll = getattr(listener, "_poll_style_listener", None)
    return getattr(poll, "_message_operations_handler", None)


def _defer_acks(listener: Any) -> bool:
    """Before the poll thread starts: consumers that do not acknowledge on read."""
    from oslo_messaging._drivers import amqpdriver

    poll = getattr(listener, "_poll_style_listener", None)
    consumers = getattr(getattr(poll, "conn", None), "_consumers", None)
    if not isinstance(poll, amqpdriver.RpcAMQPListener) or consumers is None:
        log.warning("the RPC driver is not rabbit: requests are acknowledged as they are read")
        return False
    take = functools.partial(amqpdriver.AMQPListener.__call__, poll)  # without the ack
    for consumer in consumers:
        consumer.callback = take
    return True


def _acknowledge(message: Any) -> None:
    raw = getattr(message, "message", None)
    operations = getattr(message, "_message_operations_handler", None)
    if raw is None or operations is None:
        return

    def ack() -> None:
        try:
            raw.acknowledge()
        except Exception as exc:  # a channel lost since: the broker delivers it again
            log.warning("could not acknowledge a request (%s); it may come again", exc)

    operations.do(ack)


def _cancel_consumers(listener: Any) -> None:
    poll = getattr(listener, "_poll_style_listener", None)
    conn = getattr(poll, "conn", None)
    consumers = getattr(conn, "_consumers", None)
    lock = getattr(conn, "_connection_lock", None)
    if poll is None or consumers is None or lock is None:
        log.warning("the RPC driver is not rabbit: its consumers stay until cleanup")
        return
    with lock:  # the heartbeat thread drains events too
        for consumer in consumers:
            consumer.callback = _requeue
        for consumer, tag in list(consumers.items()):
            consumer.cancel(tag=tag)
    late, poll.incoming = poll.incoming, []
    for message in late:
        listener.on_incoming_callback([message])
    if late:
        log.info("%d request(s) read while the consumers were cancelled: dispatched", len(late))


class Submitter(Protocol):
    def submit(self, rpc_ctx: dict[str, Any], args: dict[str, Any], is_call: bool) -> Any: ...


class ExecutorEndpoint:
    """Mistral's ``ExecutorServer.run_action``, with the same signature."""

    def __init__(self, service: Submitter) -> None:
        self._service = service

    def run_action(
        self,
        rpc_ctx: dict[str, Any],
        action: Any = None,
        action_ex_id: Any = None,
        safe_rerun: Any = None,
        exec_ctx: Any = None,
        timeout: Any = None,
        **others: Any,
    ) -> Any:
        """Accept one action (arguments are still wire texts); a call gets its Result.

        Every argument may be missing and unknown ones (``target``,
        ``redelivered``: Mistral's engine versions differ) are ignored: oslo
        would otherwise refuse the message against the signature, and no
        result would reach the engine for an action it knows by its id.
        """
        args = {
            "action": action,
            "action_ex_id": action_ex_id,
            "safe_rerun": safe_rerun,
            "exec_ctx": exec_ctx,
            "timeout": timeout,
        }
        if others.get("action_params") is not None:  # action-executor call (never Mistral)
            args["action_params"] = others["action_params"]
        return self._service.submit(dict(rpc_ctx or {}), args, current_is_call())
