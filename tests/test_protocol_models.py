"""Every message model round-trips, and the checked-in schema matches the models."""

import json

import pytest

from protocol import PROTOCOL_VERSION, schema
from protocol import messages as m
from protocol.framing import FrameDecoder, encode_frame
from protocol.methods import ALL_METHODS

SAMPLES = {
    m.InitializeParams: m.InitializeParams(
        protocol_version="1.0",
        runtime_version="0.1.0",
        executor_pid=1,
        max_frame_size=10,
    ),
    m.InitializeResult: m.InitializeResult(
        protocol_version="1.0",
        runtime_version="0.1.0",
        capabilities=["x"],
        pid=2,
        interpreter="/usr/bin/python3",
        python_version="3.11.7",
    ),
    m.RunActionParams: m.RunActionParams(
        action="std.echo",
        params={"output": [1, {"a": None}]},
        context=m.ActionContextModel(
            security=m.SecurityContextModel(auth_token="t", service_catalog={"c": []}),
            execution=m.ExecutionContextModel(workflow_name="wf", parent_actions=["p"]),
        ),
        dry_run=True,
        timeout=1.5,
    ),
    m.ActionOutcome: m.ActionOutcome(
        data={"x": b"\x00"},
        error=None,
        failure="raised",
        exception="E",
        host_pid=3,
        timings={"run": 0.1},
    ),
    m.CancelParams: m.CancelParams(reason="why"),
    m.LogParams: m.LogParams(level=20, logger="a", message="b", created=1.0),
    m.ListActionsParams: m.ListActionsParams(),
    m.ListActionsResult: m.ListActionsResult(
        host=m.HostInfo(
            interpreter="/p",
            python_version="3",
            prefix="/e",
            runtime_version="0",
            protocol_version="1",
        ),
        actions=[
            m.ActionInfo(
                name="a",
                class_path="m.A",
                module="m",
                params=[m.ParamSpec(name="x", required=False, default=1)],
            ),
            m.ActionInfo(name="b", class_path="m.B", module="m", error="ImportError: x"),
        ],
    ),
    m.ForkChildParams: m.ForkChildParams(
        workdir="/w", environ={"PATH": "/bin"}, rehearse=True, limits={"open_files": 64}
    ),
    m.ForkChildResult: m.ForkChildResult(pid=4),
    m.ChildExitedParams: m.ChildExitedParams(pid=4, status=0),
    m.TemplateReadyParams: m.TemplateReadyParams(pid=5, preloaded_actions=6, seconds=0.2),
    m.PreloadParams: m.PreloadParams(actions=["std.http", "my.action"]),
}


def _models():
    found = set()
    for spec in ALL_METHODS:
        found.add(spec.params)
        if spec.result is not None:
            found.add(spec.result)
    return sorted(found, key=lambda cls: cls.__name__)


def test_every_method_model_has_a_round_trip_sample():
    missing = [cls.__name__ for cls in _models() if cls not in SAMPLES]
    assert missing == []


@pytest.mark.parametrize("model", _models(), ids=lambda cls: cls.__name__)
def test_model_round_trips_through_a_frame(model):
    sample = SAMPLES[model]
    [decoded] = list(FrameDecoder().feed(encode_frame(sample.model_dump())))
    assert model.model_validate(decoded) == sample


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="extra"):
        m.CancelParams.model_validate({"reason": "x", "surprise": 1})


def test_method_names_are_unique_per_direction():
    keys = [(spec.direction, spec.name) for spec in ALL_METHODS]
    assert len(keys) == len(set(keys))


def test_checked_in_schema_matches_the_models():
    with open(schema.SCHEMA_PATH, encoding="utf-8") as f:
        checked_in = f.read()
    assert checked_in == schema.render(schema.build_schema()), (
        "protocol/schema.json is stale: run 'python -m protocol.schema --write'"
    )


def test_message_shapes_did_not_change_without_a_new_protocol_version():
    recorded = schema.load_history().get(PROTOCOL_VERSION)
    assert recorded == schema.shapes_hash(schema.build_schema()), (
        f"the message models changed but PROTOCOL_VERSION is still {PROTOCOL_VERSION}: "
        "bump it in protocol/__init__.py, then run 'python -m protocol.schema --write'"
    )


def test_schema_is_valid_json_with_every_method():
    data = json.loads(schema.render(schema.build_schema()))
    assert set(data["methods"]) == {f"{s.direction}:{s.name}" for s in ALL_METHODS}
