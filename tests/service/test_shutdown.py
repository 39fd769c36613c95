"""Stopping an executor while the engine keeps sending: every message gets exactly one result.

Each test uses an executor topic of its own, so only its executors consume.
"""

from __future__ import annotations

import re
import signal
import time
import uuid

from harness import echo_action, sleep_action

from executor.service import wire

NOT_STARTED = re.compile(r"the action was not started|before the action started")


def _topic() -> str:
    return f"mistral_executor_{uuid.uuid4().hex[:8]}"


def test_actions_sent_while_the_only_executor_stops_run_after_its_restart(make_service, engine):
    topic = _topic()
    service = make_service(
        "drain-one",
        executor={"topic": topic},
        action_executor={"max_concurrency": 1},
        action_executor_service={"shutdown_grace_period": 3},
    ).start()
    busy = engine.run_action("01", topic=topic, action=sleep_action(1.5))
    engine.wait_for(lambda: engine.reported_running(busy), 30, "the first action running")
    service.signal(signal.SIGTERM)
    time.sleep(0.2)
    late = [engine.run_action("01", topic=topic, action=echo_action(n)) for n in range(10)]
    assert service.wait(30) == 0
    assert engine.completion(busy).result == wire.WireResult(data=None)
    service.start()
    for n, ex_id in enumerate(late):
        done = engine.completion(ex_id, timeout=60)
        assert done.result == wire.WireResult(data=n), (
            done.result.error,
            service.log_text()[-3000:],
        )
    time.sleep(1)
    assert [len(engine.completions_for(i)) for i in [busy, *late]] == [1] * 11


def test_actions_sent_while_one_of_two_executors_stops_each_get_one_result(make_service, engine):
    topic = _topic()
    shared = {"executor": {"topic": topic}, "action_executor_service": {"shutdown_grace_period": 3}}
    leaving = make_service("drain-a", **shared).start()
    make_service("drain-b", **shared).start()
    tag = uuid.uuid4().hex[:8]
    ids = [f"drain-{tag}-{n}" for n in range(300)]
    for n, ex_id in enumerate(ids):
        engine.run_action("01", topic=topic, action=echo_action(n, delay=0.05), action_ex_id=ex_id)
        if n == 100:
            leaving.signal(signal.SIGTERM)
        time.sleep(0.01)
    assert leaving.wait(30) == 0
    wanted = set(ids)
    engine.wait_for(
        lambda: wanted <= {c.action_ex_id for c in engine.completions}, 120, "300 results"
    )
    time.sleep(1)
    for n, ex_id in enumerate(ids):
        (done,) = engine.completions_for(ex_id)  # accepted, not started: refused, once
        assert done.result == wire.WireResult(data=n) or NOT_STARTED.search(done.result.error)


def test_a_kill_in_the_middle_of_a_burst_loses_nothing_and_runs_nothing_twice(make_service, engine):
    topic = _topic()
    service = make_service("burst", executor={"topic": topic}).start()
    tag = uuid.uuid4().hex[:8]
    ids = [f"burst-{tag}-{n}" for n in range(200)]
    for n, ex_id in enumerate(ids):
        engine.run_action("01", topic=topic, action=echo_action(n), action_ex_id=ex_id)
        if n == 120:
            service.signal(signal.SIGKILL)
    service.wait(10)
    service.start()
    wanted = set(ids)
    engine.wait_for(
        lambda: wanted <= {c.action_ex_id for c in engine.completions}, 120, "200 results"
    )
    time.sleep(2)
    for n, ex_id in enumerate(ids):
        (done,) = engine.completions_for(ex_id)
        assert done.result == wire.WireResult(data=n) or (
            "executor restarted while the action ran" in done.result.error
        ), done
