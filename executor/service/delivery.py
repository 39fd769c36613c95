"""Delivery: every result owed to the engine goes out, and only then leaves the journal.

``delivery_workers`` threads send what the jobs (and a start's recovery)
put in the outbox, retrying while the broker or the engine is away. Once
the service is DELIVERING they end when nothing is left, and give up on a
result at its ``delivery_deadline``: it stays journaled for the next start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import oslo_messaging as messaging

from executor.deadline import Deadline
from executor.service.engine import EngineClient
from executor.service.journal import Journal, JournalError
from executor.service.settings import ServiceSettings
from executor.service.states import ServiceLifecycle

log = logging.getLogger(__name__)

_CLEAR_RETRY_EVERY = 1.0  # seconds between retries of journal rows left uncleared


@dataclass(frozen=True)
class Delivery:
    seq: int | None
    ctx: dict[str, Any]
    action_ex_id: str
    result: str | None
    call: bool


class Outbox:
    """The results owed to the engine, and the threads that send them."""

    def __init__(
        self, journal: Journal, settings: ServiceSettings, lifecycle: ServiceLifecycle
    ) -> None:
        self.journal = journal
        self.settings = settings
        self.lifecycle = lifecycle
        self.engine: EngineClient | None = None
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._senders: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._repeated_results = 0  # results sent again after an unanswered call
        self._uncleared: set[int] = set()  # delivered, but the journal could not forget them
        self._clears_due = Deadline(0.0)  # the first retry is due at once

    def start(self, engine: EngineClient) -> None:
        self.engine = engine
        for i in range(self.settings.delivery_workers):
            t = threading.Thread(target=self._send_loop, name=f"deliver-{i}", daemon=True)
            t.start()
            self._senders.append(t)

    def put(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    @property
    def pending(self) -> int:
        """Results waiting to be sent to the engine (the metrics read it)."""
        return self._queue.qsize()

    def join(self, deadline: Deadline) -> None:
        for t in self._senders:
            t.join(timeout=deadline.remaining())

    @property
    def uncleared(self) -> int:
        with self._lock:
            return len(self._uncleared)

    def _send_loop(self) -> None:
        """Deliver results; once draining, end when nothing is left to deliver."""
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.lifecycle.draining:
                    return
                if self._uncleared and self._clears_due.expired():
                    self.retry_clears()
                continue
            try:
                self._deliver(item)
            except Exception:  # one result must not stop the delivery of the others
                log.exception("delivering the result of %s failed", item.action_ex_id)

    def _deliver(self, d: Delivery) -> None:
        assert self.engine is not None
        call = d.call
        while True:
            try:
                self.engine.on_action_complete(d.ctx, d.action_ex_id, d.result, call=call)
                break
            except messaging.RemoteError as exc:
                # The engine answered: it has the result, even if it did not like it.
                log.warning("engine refused the result of %s: %s", d.action_ex_id, exc)
                break
            except Exception as exc:
                if call and isinstance(exc, messaging.MessagingTimeout):
                    call = self._repeat_as_cast(d, exc)
                    continue
                if self.lifecycle.delivery_deadline.expired():
                    log.warning(
                        "result of %s not delivered before shutdown (%s); it stays in the journal",
                        d.action_ex_id,
                        exc,
                    )
                    return
                log.warning(
                    "could not deliver the result of %s (%s: %s); retrying",
                    d.action_ex_id,
                    type(exc).__name__,
                    exc,
                )
                time.sleep(self.settings.delivery_retry_interval)
        if d.seq is not None:
            self.clear(d.seq)

    def clear(self, seq: int) -> None:
        """Forget a run whose result was delivered; if the journal cannot, retry later."""
        try:
            self.journal.clear(seq)
        except JournalError as exc:
            with self._lock:
                self._uncleared.add(seq)
            log.error("delivered, but %s; retrying while the service runs", exc)

    def retry_clears(self) -> None:
        with self._lock:
            pending, self._uncleared = self._uncleared, set()
            self._clears_due = Deadline.after(_CLEAR_RETRY_EVERY)
        failed = set()
        for seq in sorted(pending):
            try:
                self.journal.clear(seq)
            except JournalError:
                failed.add(seq)
        with self._lock:
            self._uncleared |= failed
        if pending and not failed:
            log.info("journal: %d delivered result(s) removed at last", len(pending))

    def _repeat_as_cast(self, d: Delivery, exc: Exception) -> bool:
        """Unanswered is not undelivered: a busy engine may have the result.

        Calling again would repeat it every ``rpc_response_timeout``; one
        cast with the same content (publisher-confirmed) bounds it to one
        repeat, which Mistral's engine ignores for a completed action
        execution. Returns the new ``call`` flag.
        """
        with self._lock:
            self._repeated_results += 1
            repeated = self._repeated_results
        log.warning(
            "the engine did not answer the result of %s within rpc_response_timeout=%g s "
            "(%s); it may have it already: sent once more as a cast "
            "(%d result(s) repeated so far)",
            d.action_ex_id,
            self.settings.rpc_response_timeout,
            exc,
            repeated,
        )
        return False
