"""Replay the messages a Mistral 23 engine sent: the executor answers as Mistral's does."""

from __future__ import annotations

import time

from harness import fixture_context, fixture_message

from executor.service import wire


def test_std_echo_cast_reports_running_then_completes_with_a_cast(alpha, engine):
    ex_id = engine.run_action("01")
    done = engine.completion(ex_id)
    assert done.call is False
    assert done.result == wire.WireResult(data="hello from spy")
    sent = fixture_message("08")["args"]
    assert done.result_text == sent["result"]  # byte for byte what Mistral's executor sent
    assert done.wf_action == sent["wf_action"]
    assert done.ctx == fixture_context("01")  # the engine's own context comes back
    (first, *_) = engine.reported_running(ex_id)
    assert first[0] == fixture_context("01")
    assert first[1] == wire.encode([ex_id])


def test_an_ad_hoc_action_runs_its_base_action(alpha, engine):
    ex_id = engine.run_action("02")
    done = engine.completion(ex_id)
    assert (done.call, done.result) == (False, wire.WireResult(data="Hello, Mistral!"))


def test_a_task_with_timeout_and_safe_rerun_completes(alpha, engine):
    ex_id = engine.run_action("03")
    done = engine.completion(ex_id)
    assert done.result == wire.WireResult(data="with timeout")


def test_an_async_action_is_reported_running_and_sends_no_result(alpha, engine):
    ex_id = engine.run_action("04")
    engine.wait_for(lambda: engine.reported_running(ex_id), 30, "the first heartbeat")
    deadline = time.monotonic() + 30
    while f"[action_ex_id={ex_id}] ended" not in alpha.log_text():
        assert time.monotonic() < deadline, "the async action did not end"
        time.sleep(0.1)
    time.sleep(0.5)
    assert engine.completions_for(ex_id) == []


def test_a_run_sync_call_gets_the_result_as_its_reply(alpha, engine):
    reply = engine.run_action("05", call=True)
    assert reply == fixture_message("06")["result"]  # byte for byte


def test_a_run_sync_call_sends_nothing_to_the_engine_topic(alpha, engine):
    before = len(engine.completions)
    engine.run_action("05", call=True)
    time.sleep(0.5)
    assert len(engine.completions) == before
