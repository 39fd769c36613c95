"""What goes wrong reaches the engine as an error, worded like Mistral's; affinity routes."""

from __future__ import annotations

import json
import time

from harness import echo_action, sleep_action

from executor.service import wire
from executor.service.client import ExecutorClient

FAIL = wire.DecodedAction("mistral.actions.std_actions.FailAction", {}, {"error_data": None})


def plugin(cls: str, **data) -> wire.DecodedAction:
    return wire.DecodedAction(f"testplugins_actions.{cls}", {}, data)


def test_an_action_that_raises_is_sent_back_with_a_call_in_mistrals_words(alpha, engine):
    ex_id = engine.run_action(
        "01",
        action=wire.DecodedAction(
            "mistral.actions.std_actions.FailAction", {}, {"error_data": None}
        ),
    )
    done = engine.completion(ex_id)
    assert done.call is True  # Mistral's send_error_back
    assert done.result.error.startswith(
        f"The action raised an exception [action=std.fail, action_ex_id={ex_id}, msg='"
    )
    assert "Fail action expected exception." in done.result.error


def test_an_error_result_returned_by_the_action_is_a_cast_as_in_mistral(alpha, engine):
    failing = wire.DecodedAction(
        "mistral.actions.std_actions.FailAction", {}, {"error_data": "custom error data"}
    )
    ex_id = engine.run_action("01", action=failing)
    done = engine.completion(ex_id)
    assert done.call is False
    assert done.result == wire.WireResult(error="custom error data")


def test_a_timeout_stops_the_action_and_reports_it(alpha, engine):
    started = time.monotonic()
    ex_id = engine.run_action("03", action=sleep_action(30), timeout=1)
    done = engine.completion(ex_id, timeout=20)
    assert time.monotonic() - started < 15  # Mistral waits the whole 30 s
    assert done.call is True
    assert "timed out" in done.result.error
    assert f"action_ex_id={ex_id}" in done.result.error


def test_a_crashed_host_is_reported_as_an_error(alpha, engine):
    ex_id = engine.run_action("01", action=plugin("SegfaultAction"))
    done = engine.completion(ex_id)
    assert done.call is True
    assert f"action_ex_id={ex_id}" in done.result.error
    assert "SIGSEGV" in done.result.error or "signal" in done.result.error


def test_a_plugin_action_runs_from_its_class_path(alpha, engine):
    ex_id = engine.run_action("01", action=plugin("RaiseAction", message="from plugin"))
    done = engine.completion(ex_id)
    assert "from plugin" in done.result.error


def test_an_unknown_class_is_refused_as_an_error(alpha, engine):
    ex_id = engine.run_action("01", action=wire.DecodedAction("nowhere.Missing", {}, {}))
    done = engine.completion(ex_id)
    assert done.call is True
    assert "nowhere.Missing" in done.result.error


def test_a_dynamic_action_is_refused_with_the_reason(alpha, engine):
    inner = json.dumps({"cls": "x.Y", "cls_attrs": {}, "data": {}, "code_source_id": "c1"})
    text = json.dumps({"__serial_key": wire.DYNAMIC_KEY, "__serial_data": inner})
    ex_id = engine.run_action("01", action_text=text)
    done = engine.completion(ex_id)
    assert done.call is True
    assert "dynamic actions" in done.result.error


def test_a_run_sync_call_that_fails_gets_the_error_as_its_reply(alpha, engine):
    reply = engine.run_action(
        "05",
        call=True,
        action=wire.DecodedAction(
            "mistral.actions.std_actions.FailAction", {}, {"error_data": None}
        ),
    )
    result = wire.decode_result(reply)
    assert result.error.startswith("The action raised an exception [action=std.fail, ")


def test_the_client_targets_one_executor_by_host_name(alpha, make_service, broker, engine):
    beta = make_service("beta").start()
    with ExecutorClient(broker.url) as client:
        for i in range(6):
            result = client.run_action(
                "mistral.actions.std_actions.EchoAction",
                {"output": i, "_delay": 0.0},
                action_ex_id=f"affinity-{i}",
                host="beta",
            )
            assert result is None
    for i in range(6):
        assert engine.completion(f"affinity-{i}").result == wire.WireResult(data=i)
    for i in range(6):
        assert f"[action_ex_id=affinity-{i}] ended" in beta.log_text()
        assert f"[action_ex_id=affinity-{i}]" not in alpha.log_text()


def test_a_call_through_the_client_returns_the_result(alpha, broker):
    with ExecutorClient(broker.url) as client:
        result = client.run_action(echo_action("sync"), host="alpha", wait=True)
    assert result == wire.WireResult(data="sync")
