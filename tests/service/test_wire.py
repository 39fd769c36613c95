"""wire: mistral-lib's polymorphic JSON, checked against messages a Mistral 23 engine sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.service import wire

#: Messages captured on the wire between a Mistral 23 engine and its executor.
FIXTURES = Path(__file__).parent / "fixtures"


def args(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())["body"]["oslo.message"]["args"]


RUN_ACTION_FIXTURES = sorted(p.name for p in FIXTURES.glob("0[1-5]_run_action_*.json"))


def test_the_five_run_action_fixtures_are_there():
    assert len(RUN_ACTION_FIXTURES) == 5


@pytest.mark.parametrize("name", RUN_ACTION_FIXTURES)
def test_every_run_action_fixture_decodes_and_re_encodes_to_the_same_text(name):
    action_text = args(name)["action"]
    decoded = wire.decode_action(action_text)
    assert decoded.class_path.startswith("mistral.actions.std_actions.")
    assert wire.encode_action(decoded) == action_text


def test_a_std_echo_action_decodes_to_its_class_path_and_instance_attributes():
    decoded = wire.decode_action(args("01_run_action_cast_std_echo.json")["action"])
    assert decoded.class_path == "mistral.actions.std_actions.EchoAction"
    assert decoded.data == {"output": "hello from spy", "_delay": 0.0}
    assert decoded.class_attrs == {}
    assert decoded.wrappers == ()


def test_an_ad_hoc_action_decodes_to_its_base_action():
    decoded = wire.decode_action(args("02_run_action_cast_adhoc_action.json")["action"])
    assert decoded.class_path == "mistral.actions.std_actions.EchoAction"
    assert decoded.data == {"output": "Hello, Mistral!", "_delay": 0.0}
    assert decoded.wrappers == ("mistral.actions.adhoc.AdHocAction",)


def test_primitive_arguments_decode_as_mistral_sent_them():
    a = args("03_run_action_cast_timeout_safe_rerun.json")
    assert wire.decode(a["action_ex_id"]) == "dc4e99dd-6fee-4a6f-8f9d-e8ab2f76c888"
    assert wire.decode(a["safe_rerun"]) is True
    assert wire.decode(a["timeout"]) == 30
    assert wire.decode(a["exec_ctx"])["workflow_name"] == "spy_main"
    sync = args("05_run_action_call_run_sync.json")
    assert wire.decode(sync["action_ex_id"]) is None
    assert wire.decode(sync["exec_ctx"]) == {}


def test_a_success_result_encodes_byte_for_byte_as_mistrals_executor_sent_it():
    sent = args("08_on_action_complete_cast_success.json")
    assert wire.encode(wire.WireResult(data="hello from spy")) == sent["result"]
    assert wire.encode("12df5787-caf2-4a47-8b13-13a01b59e234") == sent["action_ex_id"]
    assert wire.encode(False) == sent["wf_action"]


def test_an_error_result_encodes_byte_for_byte_as_mistrals_executor_sent_it():
    sent = args("09_on_action_complete_cast_error_result.json")
    assert wire.encode(wire.WireResult(error="custom error data")) == sent["result"]
    raised = args("10_on_action_complete_call_exception.json")
    message = (
        "The action raised an exception [action=Fail action, "
        "action_ex_id=f18cd9ee-98e5-4581-9e3d-f69f133d72dc, "
        "msg='Fail action expected exception.']"
    )
    assert wire.encode(wire.WireResult(error=message)) == raised["result"]


def test_the_reply_to_a_run_sync_call_encodes_byte_for_byte():
    reply = json.loads((FIXTURES / "06_reply_to_run_action_call.json").read_text())
    text = reply["body"]["oslo.message"]["result"]
    assert wire.encode(wire.WireResult(data="adhoc sync")) == text
    assert wire.decode_result(text) == wire.WireResult(data="adhoc sync")


def test_heartbeat_ids_encode_as_mistrals_executor_sent_them():
    sent = args("07_report_running_actions_cast.json")
    assert wire.encode(["12df5787-caf2-4a47-8b13-13a01b59e234"]) == sent["action_ex_ids"]


def test_a_dynamic_action_is_refused_with_a_reason():
    inner = json.dumps({"cls": "x.Y", "cls_attrs": {}, "data": {}, "code_source_id": "1"})
    text = json.dumps({"__serial_key": wire.DYNAMIC_KEY, "__serial_data": inner})
    with pytest.raises(wire.WireError, match="dynamic actions"):
        wire.decode_action(text)


def test_an_openstack_action_decodes_like_any_mistral_lib_action():
    inner = json.dumps(
        {
            "cls": "mistral_extra.actions.openstack.actions.NovaAction",
            "cls_attrs": {"client_method_name": "servers.list"},
            "data": {},
        }
    )
    text = json.dumps({"__serial_key": wire.OPENSTACK_KEY, "__serial_data": inner})
    decoded = wire.decode_action(text)
    assert decoded.class_attrs == {"client_method_name": "servers.list"}
    assert wire.encode_action(decoded) == text


@pytest.mark.parametrize(
    "text",
    [
        '"just a string"',
        "{not json",
        '{"__serial_key": "mistral_lib.actions.base.Action", '
        '"__serial_data": "{\\"cls_attrs\\": {}}"}',
    ],
)
def test_what_is_not_a_serialized_action_is_a_wire_error(text):
    with pytest.raises(wire.WireError):
        wire.decode_action(text)
