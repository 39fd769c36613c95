"""The host's plain-dict side of the protocol agrees with the models.

``protocol.plain`` checks a host's params and results against the schema
generated from ``protocol.messages``; these tests hold it to the models: the
same defaults, the same refusals, one method for each of the models' methods.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from action_host.sandbox.spec import Spec
from protocol import plain
from protocol.errors import RpcError, VersionMismatch
from protocol.messages import (
    ActionInstanceModel,
    ActionOutcome,
    ChildExitedParams,
    ForkChildParams,
    RunActionParams,
    SandboxSpec,
)
from protocol.methods import ALL_METHODS
from protocol.plain import Checker, PlainHandlers, PlainMethod, SchemaMismatch

PLAIN_METHODS = [v for v in vars(plain).values() if isinstance(v, PlainMethod)]


def test_every_method_of_the_models_has_its_plain_twin():
    models = {(spec.direction, spec.name) for spec in ALL_METHODS}
    plains = {(method.direction, method.name) for method in PLAIN_METHODS}
    assert plains == models


def test_the_schema_uses_only_keywords_the_checker_understands():
    seen: set[str] = set()

    def walk(node, in_properties=False):
        if isinstance(node, dict):
            for key, value in node.items():
                if not in_properties:
                    seen.add(key)
                walk(value, key in ("properties", "$defs") and not in_properties)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for entry in plain.METHODS.values():
        walk(entry["params"])
        walk(entry["result"])
    assert seen - plain.KEYWORDS == set()


def test_missing_fields_get_the_models_defaults():
    checked = plain.RUN_ACTION.check_params({"action": "std.noop"})
    assert checked == RunActionParams(action="std.noop").model_dump()


def test_a_full_dump_of_a_model_passes_unchanged():
    params = RunActionParams(
        action="std.echo",
        params={"output": [1, {"a": None}]},
        dry_run=True,
        timeout=2.5,
        max_result_size=10,
        instance=ActionInstanceModel(class_attrs={"x": 1}, data={"y": "z"}),
    ).model_dump()
    assert plain.RUN_ACTION.check_params(params) == params


def test_nested_defaults_are_filled_inside_given_objects():
    checked = plain.RUN_ACTION.check_params(
        {"action": "a", "context": {"execution": {"workflow_name": "wf"}}}
    )
    expected = RunActionParams.model_validate(
        {"action": "a", "context": {"execution": {"workflow_name": "wf"}}}
    ).model_dump()
    assert checked == expected


def test_a_defaults_container_is_never_shared_between_checks():
    first = plain.RUN_ACTION.check_params({"action": "a"})
    first["params"]["mutated"] = True
    assert plain.RUN_ACTION.check_params({"action": "a"})["params"] == {}


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(SchemaMismatch, match=r"actoin: unknown field \(the fields are action,"):
        plain.RUN_ACTION.check_params({"action": "a", "actoin": "b"})


def test_a_missing_required_field_is_named():
    with pytest.raises(SchemaMismatch, match="action: field required"):
        plain.RUN_ACTION.check_params({})


def test_a_wrong_type_is_reported_with_its_path():
    with pytest.raises(
        SchemaMismatch, match=r"context\.execution\.task_rerun_no: expected integer"
    ):
        plain.RUN_ACTION.check_params(
            {"action": "a", "context": {"execution": {"task_rerun_no": "1"}}}
        )


def test_a_bool_is_not_an_integer():
    with pytest.raises(SchemaMismatch, match="pid: expected integer, got bool"):
        plain.CHILD_EXITED.check_params({"pid": True, "status": 0})


def test_an_optional_field_takes_null_or_its_type_only():
    assert plain.RUN_ACTION.check_params({"action": "a", "timeout": None})["timeout"] is None
    assert plain.RUN_ACTION.check_params({"action": "a", "timeout": 3})["timeout"] == 3
    with pytest.raises(SchemaMismatch, match="timeout: expected number, got str"):
        plain.RUN_ACTION.check_params({"action": "a", "timeout": "3"})


def test_a_value_outside_an_enum_is_refused_with_the_choices():
    with pytest.raises(
        SchemaMismatch, match=r"network: expected one of \['none', 'egress', 'host'\]"
    ):
        plain.SANDBOX_SPEC({"network": "everywhere"})


def test_typed_map_values_are_checked():
    with pytest.raises(SchemaMismatch, match=r"environ\.HOME: expected string, got int"):
        plain.FORK_CHILD.check_params({"workdir": "/w", "environ": {"HOME": 1}})


def test_results_are_checked_like_params():
    outcome = ActionOutcome(data={"k": 1}, failure="raised", exception="ValueError").model_dump()
    assert plain.REUSE_ACTION.parse_result(outcome) == outcome
    with pytest.raises(SchemaMismatch, match="failure: expected one of"):
        plain.REUSE_ACTION.parse_result({**outcome, "failure": "exploded"})


def test_a_notification_has_no_result():
    assert plain.LOG.is_notification
    assert not plain.RUN_ACTION.is_notification


def test_the_checker_agrees_with_the_models_on_each_methods_minimal_params():
    minimal = {
        "to_template:child.fork": ForkChildParams(workdir="/w", environ={}),
        "from_template:child.exited": ChildExitedParams(pid=1, status=0),
    }
    for key, model in minimal.items():
        direction, name = key.split(":")
        method = next(m for m in PLAIN_METHODS if (m.direction, m.name) == (direction, name))
        required = json.loads(model.model_dump_json(exclude_defaults=True))
        assert method.check_params(required) == model.model_dump()


# -- the host's copy of the sandbox policy ---------------------------------------


def test_the_hosts_sandbox_spec_has_the_models_fields():
    assert [f.name for f in dataclasses.fields(Spec)] == list(SandboxSpec.model_fields)


def test_the_hosts_sandbox_spec_reads_what_the_executor_sends():
    sent = SandboxSpec(network="none", uids=2048, tmp_exposed=["/tmp/site"], max_processes=8)
    spec = Spec.from_wire(sent.model_dump())
    assert dataclasses.asdict(spec) == {**sent.model_dump(), "tmp_exposed": ("/tmp/site",)}


# -- dispatch --------------------------------------------------------------------


def _handlers() -> PlainHandlers[list[str]]:
    handlers: PlainHandlers[list[str]] = PlainHandlers()

    @handlers.register(plain.INITIALIZE)
    def initialize(context, params):
        if params["protocol_version"] == "0":
            raise VersionMismatch("too old", data={"host": "1"})
        if params["protocol_version"] == "boom":
            raise KeyError("broken handler")
        context.append(params["runtime_version"])
        return {"ok": True}

    @handlers.register(plain.CANCEL)
    def cancel(context, params):
        context.append(params["reason"])

    return handlers


def _init(version: str, call_id: object = 7) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "method": "initialize",
        "id": call_id,
        "params": {
            "protocol_version": version,
            "runtime_version": "r",
            "executor_pid": 1,
            "max_frame_size": 1024,
        },
    }


def test_a_request_is_answered_with_the_handlers_result():
    seen: list[str] = []
    response = _handlers().dispatch(_init("1"), seen)
    assert response == {"jsonrpc": "2.0", "result": {"ok": True}, "id": 7}
    assert seen == ["r"]


def test_an_unknown_method_is_method_not_found():
    response = _handlers().dispatch({"jsonrpc": "2.0", "method": "nope", "id": 1}, [])
    assert response is not None
    assert response["error"] == {"code": -32601, "message": "Method not found", "data": "nope"}


def test_bad_params_are_invalid_params_naming_the_field():
    message = _init("1")
    del message["params"]["executor_pid"]  # type: ignore[attr-defined]
    response = _handlers().dispatch(message, [])
    assert response is not None
    assert response["error"]["code"] == -32602
    assert (
        "invalid params for initialize: executor_pid: field required"
        in response["error"]["message"]
    )


def test_a_handlers_rpc_error_travels_with_its_code_and_data():
    response = _handlers().dispatch(_init("0"), [])
    assert response is not None
    error = RpcError.from_error(response["error"])
    assert isinstance(error, VersionMismatch)
    assert error.data == {"host": "1"}


def test_a_failing_handler_is_an_internal_error_naming_the_exception():
    response = _handlers().dispatch(_init("boom"), [])
    assert response is not None
    assert response["error"]["code"] == -32603
    assert "initialize failed: KeyError" in response["error"]["message"]


def test_a_notification_gets_no_answer_even_when_it_fails():
    seen: list[str] = []
    handlers = _handlers()
    assert handlers.dispatch({"jsonrpc": "2.0", "method": "$/cancel", "params": {}}, seen) is None
    assert seen == ["cancelled"]
    bad = {"jsonrpc": "2.0", "method": "$/cancel", "params": {"reason": 1}}
    assert handlers.dispatch(bad, seen) is None


def test_a_checker_of_a_definition_resolves_its_references():
    checker = Checker(plain.METHODS["to_host:action.run"]["params"]).definition(
        "ActionContextModel"
    )
    assert checker({})["security"]["auth_token"] is None


# -- what the host's process imports -------------------------------------------


def test_the_host_runtime_imports_neither_pydantic_nor_jsonrpcserver():
    """A template imports this much before it forks; every child shares it."""
    code = (
        "import sys, action_host.cli, action_host.template, action_host.serve;"
        "from action_host import discovery; discovery.load_all();"
        "print(sorted(m for m in ('pydantic', 'jsonrpcserver', 'protocol.messages') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
