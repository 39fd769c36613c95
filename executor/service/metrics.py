"""Prometheus metrics and a health check for ``serve`` (off unless
``[action_executor_service] metrics_port`` is set).

Counters and the duration histogram are updated as each action ends; the
gauges are read from the service at scrape time (a collector), so nothing on
an action's path pays for a gauge. prometheus_client is the library
Prometheus operators scrape with; only this module imports it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from executor import Result
from executor.errors import ErrorKind
from executor.service.states import ServiceState

if TYPE_CHECKING:
    from executor.service.server import ExecutorService

log = logging.getLogger(__name__)

#: Seconds: from a std.echo's few milliseconds to actions that wait on clouds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class _Gauges(Collector):
    """What the service holds now, read at each scrape."""

    def __init__(self, service: ExecutorService) -> None:
        self.service = service

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.service
        yield _gauge("queue_depth", "Accepted actions waiting for a slot", s.jobs.waiting)
        yield _gauge("running_actions", "Actions running now", len(s.jobs.still_running()))
        yield _gauge(
            "deliveries_pending", "Results waiting to be sent to the engine", s.outbox.pending
        )
        yield _gauge("journal_bytes", "Size of the journal file", _size(s.settings.journal_file))
        executor = getattr(s, "executor", None)
        if executor is not None:
            stats = executor.stats()
            yield _gauge("templates", "Warm templates serving now", len(stats.templates))
            yield _gauge(
                "template_restarts",
                "Templates started again for an environment that had one",
                stats.template_restarts,
            )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"action_executor_{name}", doc, value=value)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


#: The sandbox's own reasons not to start a host (executor/sandbox): a policy
#: this machine cannot enforce, no ids left to lease, no cgroup, no egress hooks.
SANDBOX_REFUSALS = frozenset(
    {"SandboxUnavailable", "NoIdsLeft", "CgroupUnavailable", "EgressUnavailable"}
)


class ServiceMetrics:
    """The registry of one service; ``observe`` each ended action."""

    def __init__(self, service: ExecutorService) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: noise
        self.service = service
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "action_executor_runs",
            "Actions ended, by outcome: success, or the ErrorKind that ended them",
            ["outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "action_executor_run_duration_seconds",
            "Seconds from an action's admission to its result",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.host_start_failures = Counter(
            "action_executor_host_start_failures",
            "Actions that ended because their host could not be started",
            registry=self.registry,
        )
        self.sandbox_refusals = Counter(
            "action_executor_sandbox_refusals",
            "Actions refused because their sandbox could not be enforced here",
            registry=self.registry,
        )
        for kind in ErrorKind:  # every outcome is there from the first scrape
            self.runs.labels(kind.value)
        self.runs.labels("success")
        self.registry.register(_Gauges(service))
        self._server: WSGIServer | None = None

    def observe(self, result: Result) -> None:
        kind = result.error_type
        self.runs.labels("success" if result.is_success() else str(kind)).inc()
        total = (result.timings or {}).get("total")
        if isinstance(total, (int, float)):
            self.duration.observe(total)
        if kind == ErrorKind.HOST_START_FAILED:
            self.host_start_failures.inc()
            if result.exception in SANDBOX_REFUSALS:
                self.sandbox_refusals.inc()

    def serve(self, host: str, port: int) -> None:
        """Listen in a thread of its own; OSError (a port in use) goes to the caller."""
        app = _with_healthz(make_wsgi_app(self.registry), self._health)
        self._server = make_server(host, port, app, _ThreadingServer, _QuietHandler)
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", host, port)

    def _health(self) -> tuple[bool, dict[str, Any]]:
        state = self.service.lifecycle.state
        return state is ServiceState.RUNNING, {"state": state.name.lower()}

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


def _with_healthz(
    app: Callable[..., Iterable[bytes]], health: Callable[[], tuple[bool, dict[str, Any]]]
) -> Callable[..., Iterable[bytes]]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok, body = health()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "application/json")],
            )
            return [json.dumps(body).encode()]
        return app(environ, start_response)

    return wsgi
