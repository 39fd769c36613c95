"""serve's Prometheus metrics and /healthz ([action_executor_service]
metrics_port), scraped over HTTP while real actions run through RabbitMQ."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request

import pytest
from harness import echo_action, sleep_action


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _value(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.M)
    assert found, f"{name}{labels} not in the scrape:\n{text}"
    return float(found.group(1))


@pytest.fixture(scope="module")
def watched(broker, services_dir, plugin_site):
    from harness import ServiceProcess

    port = _free_port()
    service = ServiceProcess(
        broker,
        services_dir / "watched",
        "watched",
        plugin_site=plugin_site,
        sections={"action_executor_service": {"metrics_port": port}},
    )
    service.start()
    yield service, port
    service.stop()


def test_healthz_says_200_while_serve_takes_actions(watched):
    _service, port = watched
    status, body = _get(port, "/healthz")
    assert status == 200 and json.loads(body) == {"state": "running"}


def test_runs_are_counted_by_outcome_and_timed(watched, engine):
    service, port = watched
    _, before = _get(port, "/metrics")
    ok0 = _value(before, "action_executor_runs_total", '{outcome="success"}')
    failed0 = _value(before, "action_executor_runs_total", '{outcome="ActionNotFound"}')
    count0 = _value(before, "action_executor_run_duration_seconds_count")
    ids = [engine.run_action("01", host=service.host, action=echo_action(i)) for i in range(3)]
    bad = engine.run_action(
        "01", host=service.host, action=echo_action(0).__class__("no.such.Action", {}, {})
    )
    for ex_id in [*ids, bad]:
        engine.completion(ex_id, timeout=60)
    _, after = _get(port, "/metrics")
    assert _value(after, "action_executor_runs_total", '{outcome="success"}') == ok0 + 3
    assert _value(after, "action_executor_runs_total", '{outcome="ActionNotFound"}') == failed0 + 1
    assert _value(after, "action_executor_run_duration_seconds_count") >= count0 + 3
    assert _value(after, "action_executor_journal_bytes") > 0
    assert _value(after, "action_executor_templates") >= 1


def test_a_running_action_shows_in_the_gauges(watched, engine):
    service, port = watched
    ex_id = engine.run_action("01", host=service.host, action=sleep_action(3))
    deadline = time.monotonic() + 30
    running = 0.0
    while time.monotonic() < deadline and running < 1:
        running = _value(_get(port, "/metrics")[1], "action_executor_running_actions")
        time.sleep(0.1)
    assert running >= 1
    engine.completion(ex_id, timeout=60)
    text = _get(port, "/metrics")[1]
    for gauge in ("queue_depth", "template_restarts"):
        assert _value(text, f"action_executor_{gauge}") == 0, gauge
    pending = _value(text, "action_executor_deliveries_pending")
    assert pending in (0, 1)  # the last result may still be on its way
    assert _value(text, "action_executor_host_start_failures_total") == 0
    assert _value(text, "action_executor_sandbox_refusals_total") == 0


def test_metrics_are_off_by_default(alpha):
    port_in_log = re.search(r"metrics on http://", alpha.log_text())
    assert port_in_log is None
