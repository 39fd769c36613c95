"""Crashes, restarts, SIGTERM, a lost broker connection and scale-out: no action is lost."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
import uuid
from pathlib import Path

from harness import ServiceProcess, echo_action, sleep_action
from proc_watch import wait_until

from executor.service import wire
from executor.service.journal import ACCEPTED, STARTED


def _journal_states(service: ServiceProcess) -> dict[str, str]:
    """action_ex_id -> the state of its run in the service's journal (it
    journals each request, then queues it at once: "accepted" is queued)."""
    journal = next(Path(service.workdir).rglob(f"journal-{service.host}.sqlite"))
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
            return dict(db.execute("SELECT action_ex_id, state FROM runs").fetchall())
    except sqlite3.OperationalError:  # busy a moment: asked again
        return {}


def test_a_killed_executor_reruns_safe_actions_and_reports_the_others(make_service, engine):
    service = make_service("phoenix").start()
    safe = engine.run_action("03", host="phoenix", action=sleep_action(2), safe_rerun=True)
    unsafe = engine.run_action("01", host="phoenix", action=sleep_action(2))
    engine.wait_for(
        lambda: engine.reported_running(safe) and engine.reported_running(unsafe),
        30,
        "both actions running",
    )
    service.signal(signal.SIGKILL)
    service.wait(10)
    assert engine.completions_for(safe) == engine.completions_for(unsafe) == []
    service.start()
    rerun = engine.completion(safe, timeout=30)
    reported = engine.completion(unsafe, timeout=30)
    assert (rerun.call, rerun.result) == (False, wire.WireResult(data=None))
    assert reported.call is True
    assert "executor restarted while the action ran" in reported.result.error
    assert f"action_ex_id={unsafe}" in reported.result.error
    time.sleep(1.5)  # nothing more comes: exactly one on_action_complete each
    assert len(engine.completions_for(safe)) == len(engine.completions_for(unsafe)) == 1


def test_sigterm_lets_running_actions_finish_within_the_grace_period(make_service, engine):
    service = make_service(
        "sigterm",
        action_executor={"max_concurrency": 2},
        action_executor_service={"shutdown_grace_period": 3},
    ).start()
    # long enough to still run once the third request is queued, on a loaded machine too
    quick = engine.run_action("01", host="sigterm", action=echo_action("quick", delay=1.5))
    stuck = engine.run_action("01", host="sigterm", action=sleep_action(60))
    engine.wait_for(
        lambda: engine.reported_running(quick) and engine.reported_running(stuck), 30, "running"
    )
    waiting = engine.run_action("01", host="sigterm", action=echo_action("never"))
    queued = {quick: STARTED, waiting: ACCEPTED}
    wait_until(
        lambda: queued.items() <= _journal_states(service).items(),
        30,
        "the third action queued while the first two run",
    )
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    assert time.monotonic() - started < 15
    assert engine.completion(quick).result == wire.WireResult(data="quick")
    killed = engine.completion(stuck)
    assert killed.call is True and "shutdown_grace_period=3" in killed.result.error
    not_started = engine.completion(waiting)
    assert not_started.call is True and "before the action started" in not_started.result.error


def test_results_survive_a_dropped_broker_connection(make_service, engine, broker):
    service = make_service("flaky").start()
    ids = [
        engine.run_action("01", host="flaky", action=echo_action(i, delay=1.5)) for i in range(12)
    ]
    engine.wait_for(lambda: all(engine.reported_running(i) for i in ids), 30, "all running")
    assert broker.close_connections_of(service.pid) > 0
    for n, ex_id in enumerate(ids):
        assert engine.completion(ex_id, timeout=60).result == wire.WireResult(data=n)
    time.sleep(1)
    assert all(len(engine.completions_for(i)) == 1 for i in ids)
    assert "flaky" in service.host and service.proc.poll() is None


def test_two_executors_share_500_actions_each_run_exactly_once(alpha, make_service, engine):
    make_service("scale-a").start()
    make_service("scale-b").start()
    tag = uuid.uuid4().hex[:8]
    ids = [f"scale-{tag}-{i}" for i in range(500)]
    for n, ex_id in enumerate(ids):
        engine.run_action("01", action=echo_action(n), action_ex_id=ex_id)
    wanted = set(ids)
    engine.wait_for(
        lambda: wanted <= {c.action_ex_id for c in engine.completions}, 120, "500 results"
    )
    time.sleep(1)
    for n, ex_id in enumerate(ids):
        (done,) = engine.completions_for(ex_id)
        assert done.result == wire.WireResult(data=n)
