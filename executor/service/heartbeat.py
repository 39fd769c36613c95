"""Heartbeats: ``report_running_actions`` so the engine never reaps a live action.

Mistral's engine fails a sync action whose last heartbeat is older than
``max_missed_heartbeats x check_interval``. Like Mistral's executor this
sends one report when an action starts (with that action's context) and
every ``check_interval`` one for all the actions this executor holds, which
here includes the accepted ones still waiting for a slot: the engine knows
they are in good hands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from executor.service.engine import EngineClient, admin_context

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        engine: EngineClient,
        interval: float,
        held: Callable[[], list[str]],
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.held = held
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def started(self, ctx: dict[str, Any], action_ex_id: str | None) -> None:
        """The immediate report for an action that starts (none without an id)."""
        if not (self.enabled and action_ex_id):
            return
        try:
            self.engine.report_running_actions(ctx, [action_ex_id])
        except Exception as exc:  # the periodic report will say it again
            log.warning("could not report action %s as running: %s", action_ex_id, exc)

    def start(self) -> None:
        if not self.enabled:
            log.info(
                "action heartbeats are disabled ([action_heartbeat] check_interval or "
                "max_missed_heartbeats is 0)"
            )
            return
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()

    def beat(self) -> None:
        ids = sorted(set(self.held()))
        if ids:
            self.engine.report_running_actions(admin_context(), ids)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:
                log.warning("heartbeat (report_running_actions) failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
