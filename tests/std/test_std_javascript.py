"""std.javascript / std.js: scripts evaluated in embedded V8 (mini-racer)."""

from __future__ import annotations

import pytest

from actions_api import ActionContext, ActionException
from executor import Executor, ExecutorConfig
from std_actions.javascript import REQUIRED_ADDRESS_SPACE, JavaScriptAction

CTX = ActionContext()


def js(script, context=None):
    return JavaScriptAction(script=script, context=context).run(CTX)


def test_the_script_is_a_function_body_whose_return_value_is_the_result():
    assert js("return 1 + 2;") == 3


def test_the_context_parameter_is_available_as_dollar():
    assert js("return $.a * 2 + $.items.length;", {"a": 20, "items": [1, 2]}) == 42


def test_without_a_context_dollar_is_null():
    assert js("return $ === null;") is True


def test_objects_and_arrays_come_back_as_plain_python_values():
    result = js(
        "return {name: $.name.toUpperCase(), list: [1, 'two', null, {x: true}]};",
        {"name": "mistral"},
    )
    assert result == {"name": "MISTRAL", "list": [1, "two", None, {"x": True}]}


def test_a_script_without_return_gives_none():
    assert js("var x = 1;") is None


def test_a_syntax_error_fails_the_action():
    with pytest.raises(ActionException, match="JavaScriptAction failed"):
        js("return (;")


def test_an_exception_thrown_by_the_script_fails_the_action_with_its_message():
    with pytest.raises(ActionException, match="JavaScriptAction failed: .*bad input"):
        js("throw new Error('bad input');")


def test_a_javascript_action_rebuilt_from_mistrals_attributes_runs():
    action = JavaScriptAction.__new__(JavaScriptAction)
    for name, value in {"script": "return $.n + 1;", "js_context": {"n": 41}}.items():
        setattr(action, name, value)
    assert action.run(CTX) == 42
    assert set(vars(JavaScriptAction(script="", context=None))) == {"script", "js_context"}


def test_std_javascript_through_an_executor_that_allows_v8s_address_space(make_executor):
    executor = make_executor(limits={"address_space": 2 * REQUIRED_ADDRESS_SPACE})
    result = executor.run("std.javascript", {"script": "return $.a + 1;", "context": {"a": 1}})
    assert result.is_success(), result.error
    assert result.data == 2


def test_std_js_is_an_alias_of_std_javascript(make_executor):
    executor = make_executor(launcher="spawn", limits={"open_files": 1024})
    result = executor.run("std.js", {"script": "return [1, 2].map(x => x * 10);"})
    assert result.is_success(), result.error
    assert result.data == [10, 20]


def test_in_the_default_configuration_it_runs_sandboxed(plugin_site, tmp_path):
    """No address-space limit by default: V8 reserves ~216 GiB it never uses,
    and an action's memory is bounded by its cgroup (memory_limit) instead."""
    config = ExecutorConfig(state_dir=str(tmp_path), extra_paths=(str(plugin_site),))
    with Executor(config) as executor:
        result = executor.run("std.javascript", {"script": "return 6 * 7;"})
    assert result.is_success(), result.error
    assert result.data == 42
    limit = config.sandbox.memory_limit
    assert result.peak_memory is not None and limit is not None and result.peak_memory < limit


def test_under_an_address_space_limit_it_fails_with_an_explanation(make_executor):
    executor = make_executor(limits={"address_space": 4 * 1024**3})
    result = executor.run("std.javascript", {"script": "return 1;"})
    assert result.is_error()
    assert "address_space" in str(result.error)
    assert "216 GiB" in str(result.error)
