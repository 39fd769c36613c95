"""Every refusal of the envelope check names what is wrong, in its own words.

``protocol.envelope`` is the one place a peer's message is checked before
the endpoint trusts it; these cases pin each refusal's text (an operator
reads it in the log of a channel that ended) and that well-formed messages
pass, through ``classify`` and through the check that serves each kind.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from protocol.envelope import brief, check_error, check_request, check_response, classify
from protocol.errors import InvalidMessage

REFUSED: dict[str, tuple[dict[Any, Any], str]] = {
    "neither": (
        {"jsonrpc": "2.0", "id": 1},
        "message from P is neither a request (no 'method') nor a response "
        "(no 'result' or 'error'): members 'id', 'jsonrpc'",
    ),
    "request_unknown_member": (
        {"jsonrpc": "2.0", "method": "m", "extra": 1},
        "request from P has members this protocol does not define: 'extra'",
    ),
    "response_unknown_member": (
        {"jsonrpc": "2.0", "result": 1, "id": 1, 5: 0},
        "response from P has members this protocol does not define: 5",
    ),
    "not_2_0": (
        {"jsonrpc": "1.0", "method": "m"},
        "message from P is not JSON-RPC 2.0: 'jsonrpc' is str '1.0', not '2.0'",
    ),
    "no_jsonrpc": (
        {"result": 1, "id": 1},
        "message from P is not JSON-RPC 2.0: 'jsonrpc' is NoneType None, not '2.0'",
    ),
    "method_not_a_string": (
        {"jsonrpc": "2.0", "method": 7},
        "request from P: 'method' is int 7, not a string",
    ),
    "params_a_list": (
        {"jsonrpc": "2.0", "method": "m", "params": [1]},
        "request 'm' from P: 'params' is list [1], not a map of named parameters",
    ),
    "param_name_not_a_string": (
        {"jsonrpc": "2.0", "method": "m", "params": {"a": 1, 2: 3}},
        "request 'm' from P: parameter name int 2 is not a string",
    ),
    "request_id_a_bool": (
        {"jsonrpc": "2.0", "method": "m", "id": True},
        "request 'm' from P: 'id' is bool True, not an int or a string",
    ),
    "result_and_error": (
        {"jsonrpc": "2.0", "result": 1, "error": {}, "id": 1},
        "response from P has both 'result' and 'error'",
    ),
    "response_without_id": (
        {"jsonrpc": "2.0", "result": 1},
        "response from P has no 'id'",
    ),
    "result_id_null": (
        {"jsonrpc": "2.0", "result": 1, "id": None},
        "response from P: 'id' is NoneType None, not an int or a string",
    ),
    "error_id_a_list": (
        {"jsonrpc": "2.0", "error": {"code": 1, "message": "m"}, "id": [1]},
        "error response from P: 'id' is list [1], not an int, a string or null",
    ),
    "error_a_string": (
        {"jsonrpc": "2.0", "error": "boom", "id": 1},
        "error response from P: 'error' is str 'boom', not a map of code, message and data",
    ),
    "error_unknown_member": (
        {"jsonrpc": "2.0", "error": {"code": 1, "message": "m", "trace": ""}, "id": 1},
        "error response from P: the error has members this protocol does not define: 'trace'",
    ),
    "error_code_a_float": (
        {"jsonrpc": "2.0", "error": {"code": 1.0, "message": "m"}, "id": 1},
        "error response from P: 'code' is float 1.0, not an int",
    ),
    "error_without_message": (
        {"jsonrpc": "2.0", "error": {"code": 1}, "id": None},
        "error response from P: 'message' is NoneType None, not a string",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_refusal_names_what_is_wrong(case):
    message, text = REFUSED[case]
    with pytest.raises(InvalidMessage, match=f"^{re.escape(text)}$"):
        classify(message, "P")


@pytest.mark.parametrize(
    ("message", "is_request"),
    [
        ({"jsonrpc": "2.0", "method": "log"}, True),
        ({"jsonrpc": "2.0", "method": "m", "params": {"a": [1]}, "id": "x"}, True),
        ({"jsonrpc": "2.0", "result": None, "id": 3}, False),
        ({"jsonrpc": "2.0", "error": {"code": -1, "message": "m", "data": [1]}, "id": None}, False),
    ],
)
def test_well_formed_messages_are_classified(message, is_request):
    assert classify(message) is is_request
    check = check_request if is_request else check_response
    check(message, "P")  # raises nothing


def test_the_error_check_serves_an_error_on_its_own():
    check_error({"code": 1, "message": "m", "data": None}, "P")
    with pytest.raises(InvalidMessage, match="'code' is bool True, not an int"):
        check_error({"code": True, "message": "m"}, "P")


def test_a_long_member_list_is_cut_after_twelve():
    message = {f"k{i:02}": i for i in range(20)}
    with pytest.raises(InvalidMessage, match=r"'k11' and 8 more$"):
        classify(message, "P")


def test_a_huge_value_is_shown_short():
    with pytest.raises(InvalidMessage) as info:
        classify({"jsonrpc": "2.0", "method": "x" * 10_000, "params": "y" * 10_000}, "P")
    assert len(str(info.value)) < 300
    assert len(brief("y" * 10_000)) <= 60
