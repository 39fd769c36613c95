"""One bad message costs one error result, never a worker, a restart or
another action: the service keeps "exactly one result per action_ex_id".

Against the real broker: a message nesting 10,000 deep, more of them than
the service has workers, a journal row that cannot be recovered, timeouts
that are no timeouts (NaN, infinity, zero, negative, text), arguments
missing, unknown or unreadable, and an id sent again while it runs.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path

import pytest
from harness import echo_action, sleep_action

from executor.service import wire
from executor.service.engine import Raw
from executor.service.journal import Journal

ECHO = "mistral.actions.std_actions.EchoAction"


def _deep_action(depth: int = 10_000) -> str:
    """std.echo whose output nests ``depth`` lists deep (about 20 KB of text)."""
    inner = (
        f'{{"cls": "{ECHO}", "cls_attrs": {{}}, '
        f'"data": {{"output": {"[" * depth}{"]" * depth}, "_delay": 0.0}}}}'
    )
    return json.dumps({"__serial_key": wire.ACTION_KEY, "__serial_data": inner})


def test_a_message_nested_too_deeply_gets_an_error_result_of_its_own(alpha, engine):
    ex_id = engine.run_action("01", action_text=_deep_action())
    done = engine.completion(ex_id)
    assert done.call is True
    assert "nests too deeply" in done.result.error
    assert done.result.error.startswith("The action raised an exception [action=<undecodable")


def test_more_poison_messages_than_workers_leave_every_worker_alive(alpha, engine):
    poisoned = [engine.run_action("01", action_text=_deep_action()) for _ in range(20)]
    for ex_id in poisoned:
        assert engine.completion(ex_id).result.is_error()
    ex_id = engine.run_action("01", action=echo_action("still serving"))
    assert engine.completion(ex_id).result == wire.WireResult("still serving")


def test_a_journal_row_that_cannot_be_recovered_does_not_stop_the_start(make_service, engine):
    host = f"journal-{uuid.uuid4().hex[:6]}"
    service = make_service(host).start()
    service.stop()
    journal_file = next(Path(service.workdir).rglob(f"journal-{host}.sqlite"))
    journal = Journal(str(journal_file))
    ex_id = str(uuid.uuid4())
    seq = journal.accept(ex_id, False, {}, {"action": _deep_action(), "action_ex_id": ex_id})
    journal.started(seq)
    journal.close()
    service.start()  # READY: the row did not stop it
    done = engine.completion(ex_id)
    assert "executor restarted while the action ran" in done.result.error
    again = engine.run_action("01", host=host, action=echo_action("after recovery"))
    assert engine.completion(again).result == wire.WireResult("after recovery")


@pytest.mark.parametrize(
    "timeout",
    [math.nan, math.inf, 0, -5, "abc", True],
    ids=["nan", "inf", "0", "-5", "abc", "true"],
)
def test_a_timeout_that_is_no_timeout_is_that_actions_clear_error(alpha, engine, timeout):
    ex_id = engine.run_action("01", action=echo_action("never run"), timeout=timeout)
    done = engine.completion(ex_id)
    assert done.call is True
    assert "timeout" in done.result.error
    assert "internal error" not in done.result.error
    assert "never run" not in done.result.error


@pytest.mark.parametrize("missing", ["action", "exec_ctx", "safe_rerun", "timeout"])
def test_a_message_missing_an_argument_gets_a_result(alpha, engine, missing):
    ex_id = engine.run_action("01", action=echo_action("hi"), drop=(missing,))
    done = engine.completion(ex_id)
    if missing == "action":
        assert "not a serialized Mistral action" in done.result.error
    else:
        assert done.result == wire.WireResult("hi")


def test_unknown_arguments_of_other_engine_versions_are_ignored(alpha, engine):
    ex_id = engine.run_action(
        "01", action=echo_action("hi"), target="some-executor", redelivered=False
    )
    assert engine.completion(ex_id).result == wire.WireResult("hi")


def test_a_safe_rerun_that_is_not_json_gets_an_error_result(alpha, engine):
    ex_id = engine.run_action("01", action=echo_action("hi"), safe_rerun=Raw("not json"))
    done = engine.completion(ex_id)
    assert "safe_rerun is not JSON text" in done.result.error


def test_an_id_sent_again_while_it_runs_runs_once(alpha, engine):
    ex_id = engine.run_action("01", host="alpha", action=sleep_action(2))
    engine.run_action("01", host="alpha", action=sleep_action(2), action_ex_id=ex_id)
    engine.completion(ex_id, timeout=30)
    time.sleep(3)
    assert len(engine.completions_for(ex_id)) == 1
