"""Results that are not plain data become what Mistral would make of them.

Mistral's executor sends every result through oslo.serialization's
``to_primitive(..., convert_instances=True)``; ours converts the same values
to the same primitives (checked against oslo.serialization itself), logs
each conversion with its path and type, and refuses them in strict mode.
"""

import datetime
import decimal
import json
import uuid
from typing import Any

import pytest
from helpers import install_plugin

from actions_api.exceptions import SerializationError
from actions_api.serialization import mistral_primitive, to_wire
from executor import Executor, ExecutorConfig

jsonutils = pytest.importorskip("oslo_serialization.jsonutils")
requests = pytest.importorskip("requests")


class Server:
    def __init__(self):
        self.name = "web-1"
        self.tags = {"a"}
        self.created = datetime.date(2026, 1, 2)


class Deep:
    def __init__(self, depth):
        self.child = Deep(depth - 1) if depth else "bottom"


def _response() -> Any:
    response = requests.Response()
    response.status_code = 200
    response._content = b"x" * 300  # iterating a Response yields its body in 128-byte chunks
    response._content_consumed = True
    return response


def _mistral(value):
    """What Mistral's engine stores for a result value (oslo.serialization, JSON)."""
    return json.loads(jsonutils.dumps(jsonutils.to_primitive(value, convert_instances=True)))


CASES = {
    "set": {1, 2, 3},
    "decimal": decimal.Decimal("12.50"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "date": datetime.date(2026, 3, 4),
    "object": Server(),
    "deep object": Deep(6),
    "exception": ValueError("bad"),
    "int keys": {1: "one", 2.5: "x", None: "n", False: "f"},
    "frozenset in a list": [frozenset({"x"})],
    "response": _response(),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_value_becomes_the_primitive_mistral_would_make(name):
    value = CASES[name]
    ours = to_wire({"v": value}, "$.data", mistral_compatible=True)
    assert json.loads(json.dumps(ours)) == _mistral({"v": value})


def test_each_conversion_is_logged_with_its_path_and_type(caplog):
    caplog.set_level("WARNING", logger="action")
    to_wire(
        {"servers": [Server()], "total": decimal.Decimal("1")}, "$.data", mistral_compatible=True
    )
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "$.data.servers[0]" in m and "test_serialization_mistral.Server" in m for m in messages
    )
    assert any("$.data.total" in m and "decimal.Decimal" in m for m in messages)


def test_plain_data_is_left_as_it_is_and_not_logged(caplog):
    value = {"a": [1, "x", None, b"\x00"], "when": datetime.datetime(2026, 1, 1)}
    assert to_wire(value, "$.data", mistral_compatible=True) == value
    assert not caplog.records


def test_what_mistral_cannot_convert_either_is_still_an_error_naming_the_path():
    with pytest.raises(SerializationError, match=r"builtins.object at \$.data.x"):
        to_wire({"x": object()}, "$.data", mistral_compatible=True)
    with pytest.raises(ValueError):
        jsonutils.to_primitive({"x": object()}, convert_instances=True)


def test_without_the_mistral_mode_conversion_is_refused():
    with pytest.raises(SerializationError, match=r"builtins.set at \$.data"):
        to_wire({1, 2}, "$.data")


def test_mistral_primitive_alone_matches_oslo_for_a_nested_structure():
    value = {"items": [Server(), {"ids": {uuid.UUID(int=1)}}], "at": datetime.datetime(2026, 1, 1)}
    assert mistral_primitive(value) == jsonutils.to_primitive(value, convert_instances=True)


# -- through the executor ------------------------------------------------------------

ACTIONS = """
import datetime
import decimal
import uuid

import requests

from actions_api import Action


class Server:
    def __init__(self):
        self.name = "web-1"


class Rich(Action):
    def run(self, context):
        response = requests.Response()
        response.status_code = 200
        response._content = b"hello"
        response._content_consumed = True
        return {
            "response": response,
            "ids": {3},
            "price": decimal.Decimal("9.99"),
            "id": uuid.UUID(int=7),
            "day": datetime.date(2026, 5, 6),
            "server": Server(),
        }
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ser-site")
    folder.chmod(0o755)  # a sandboxed spawn host reads it as an unprivileged uid
    return install_plugin(
        folder,
        "ser-plugin",
        "1.0",
        {"ser_actions": ACTIONS},
        {"ser.rich": "ser_actions:Rich"},
    )


@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_an_action_returning_rich_values_gets_mistrals_primitives_and_log_lines(
    site, tmp_path, launcher
):
    config = ExecutorConfig(state_dir=str(tmp_path), launcher=launcher, extra_paths=(str(site),))
    with Executor(config) as ex:
        result = ex.run("ser.rich")
    assert result.is_success(), result.error
    assert result.data == {
        "response": ["hello"],
        "ids": [3],
        "price": "9.99",
        "id": "00000000-0000-0000-0000-000000000007",
        "day": "2026-05-06",
        "server": {"name": "web-1"},
    }
    logs = "\n".join(result.logs)
    assert "$.data.response of type requests.models.Response was converted to list" in logs
    assert "$.data.price of type decimal.Decimal" in logs


@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_strict_serialization_refuses_them(site, tmp_path, launcher):
    config = ExecutorConfig(
        state_dir=str(tmp_path),
        launcher=launcher,
        extra_paths=(str(site),),
        strict_serialization=True,
    )
    with Executor(config) as ex:
        result = ex.run("ser.rich")
    assert result.error_type == "NotSerializable"
    assert "requests.models.Response at $.data.response" in result.error
