"""An engine slower than ``rpc_response_timeout``: each result reaches it, at most once more."""

from __future__ import annotations

import time
import uuid

from harness import EngineDouble

from executor.service import wire


def test_an_unanswered_error_result_is_sent_once_more_as_a_cast_and_never_again(
    make_service, broker
):
    own = uuid.uuid4().hex[:8]
    slow = EngineDouble(broker, engine_topic=f"slow_engine_{own}")
    slow.answer_delay = 4
    try:
        service = make_service(
            "slow-engine",
            DEFAULT={"rpc_response_timeout": 1},
            engine={"topic": f"slow_engine_{own}"},
            executor={"topic": f"slow_executor_{own}"},
        ).start()
        missing = wire.DecodedAction("no_such_module.NoSuchAction", {}, {})
        topic = f"slow_executor_{own}"
        ids = [slow.run_action("01", topic=topic, action=missing) for _ in range(3)]
        for ex_id in ids:
            slow.wait_for(lambda i=ex_id: len(slow.completions_for(i)) >= 2, 30, f"{ex_id} twice")
        time.sleep(5)  # more than the engine's delay plus the timeout: no third delivery
        for ex_id in ids:
            first, again = slow.completions_for(ex_id)
            assert (first.call, again.call) == (True, False)
            assert first.result_text == again.result_text
            assert "no_such_module" in again.result.error
        assert "it may have it already: sent once more as a cast" in service.log_text()
    finally:
        slow.close()
