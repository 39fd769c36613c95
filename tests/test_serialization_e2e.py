"""What crosses the process boundary, end to end through real hosts."""

import datetime


def test_supported_values_round_trip_through_a_host(executor):
    result = executor.run("test.rich_values", {"value": [1, (2, 3), {"b": b"\x01"}]})
    assert result.is_success(), result.error
    data = result.data
    assert data["received"] == [1, [2, 3], {"b": b"\x01"}]
    assert data["when"] == datetime.datetime(2026, 11, 22, 12, 30)
    assert data["raw"] == b"\x00\xff"
    assert data["pair"] == [1, "two"]
    assert data["nested"] == {
        "__serial_key": "actions_api.Result",
        "__serial_data": {"data": {"ok": True}, "error": None, "cancel": False},
    }
    assert data["price"]["__serial_key"] == "testplugins.Money"


def test_registered_types_are_rebuilt_by_actions_that_know_them(executor):
    result = executor.run("test.reuse_rich")
    assert result.data == {
        "price_type": "Money",
        "nested_type": "Result",
        "forwarded": {"cents": 1999, "type": "Money"},
    }


def test_an_unsupported_parameter_type_is_refused_naming_its_path(executor):
    result = executor.run("test.kwargs", {"items": [1, {"x": object()}]})
    assert result.error_type == "InvalidInput"
    assert "builtins.object at $.params.items[1].x" in result.error
    assert result.host_pid is None


def test_an_oversize_result_is_an_error_never_a_cut_value(make_executor):
    ex = make_executor(max_result_size=1000)
    assert ex.run("test.big", {"size": 900}).is_success()
    result = ex.run("test.big", {"size": 5000})
    assert result.error_type == "ResultTooLarge"
    assert "more than the limit of 1000 bytes (max_result_size)" in result.error
    assert result.data is None
