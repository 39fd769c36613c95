"""actions_api.testing: unit-testing an action in-process, as the host would run it."""

import os
import subprocess
import sys
import threading
import warnings
from importlib import metadata

import pytest
from helpers import HERE, ROOT

from actions_api import Action, ActionException, Result, runtime, testing, utils
from actions_api import context as api_context

pytest_plugins = ("pytester",)


class Greet(Action):
    def __init__(self, name, punctuation="!"):
        self.name = name
        self.punctuation = punctuation

    def run(self, context):
        return f"Hello {self.name}{self.punctuation}"

    def test(self, context):
        return f"would greet {self.name}"


class Where(Action):
    """Reports where it runs and which context it sees, directly and from a thread."""

    def run(self, context):
        from_thread = []
        worker = threading.Thread(target=lambda: from_thread.append(api_context.current()))
        worker.start()
        worker.join()
        return {
            "pid": os.getpid(),
            "user": context.security.user_name,
            "current_is_given": api_context.current() is context,
            "thread_sees_it": from_thread[0] is context,
        }


class Reuser(Action):
    """Runs std.echo, then dry-runs std.fail, through utils."""

    def run(self, context):
        echoed = utils.run_action("std.echo", output="x")
        tested = utils.get_action("std.fail", error_data="e").test(timeout=2)
        return {"echoed": echoed.data, "tested": tested.data}


class InnerEcho(Action):
    """A real action a fake may run in-process for a nested call."""

    def __init__(self, output):
        self.output = output

    def run(self, context):
        return {
            "output": self.output,
            "parents": list(api_context.current().execution.parent_actions),
        }


class WaitsForCancel(Action):
    """Polls cancel_requested() until it turns True (at most ~5 s)."""

    def run(self, context):
        for _ in range(500):
            if api_context.cancel_requested():
                return "stopped when asked"
            utils.run_action("progress.tick")
        return "never asked"


class OldStyle(Action):
    def run(self):  # the deprecation must point here
        return "old style works"


OLD_STYLE_RUN_LINE = OldStyle.run.__code__.co_firstlineno


# -- running -------------------------------------------------------------------------------------


def test_run_builds_the_action_with_its_params_and_returns_its_value():
    result = testing.run(Greet, {"name": "Ann", "punctuation": "?"})
    assert result == Result(data="Hello Ann?")
    assert result.is_success() and result.failure is None


def test_run_happens_in_the_test_process():
    assert testing.run(Where).data["pid"] == os.getpid()


def test_run_accepts_an_action_already_built():
    assert testing.run(Greet("Bo")).data == "Hello Bo!"


def test_dry_run_calls_test_instead_of_run():
    assert testing.run(Greet, {"name": "Ann"}, dry_run=True).data == "would greet Ann"


def test_the_given_context_is_passed_and_current_in_the_action_and_its_threads():
    ctx = testing.context(user_name="ann")
    assert testing.run(Where, context=ctx).data == {
        "pid": os.getpid(),
        "user": "ann",
        "current_is_given": True,
        "thread_sees_it": True,
    }


def test_no_context_is_current_after_a_run():
    testing.run(Where, context=testing.context(user_name="ann"))
    with pytest.raises(LookupError, match="actions_api.testing.run"):
        api_context.current()


def test_context_sorts_flat_field_names_into_security_and_execution():
    ctx = testing.context(auth_token="t", workflow_name="wf", parent_actions=["a"])
    assert ctx.security.auth_token == "t"
    assert ctx.execution.workflow_name == "wf"
    assert ctx.execution.parent_actions == ("a",)


def test_context_refuses_an_unknown_field_with_a_suggestion():
    with pytest.raises(TypeError, match="unknown field 'project'; did you mean project_"):
        testing.context(project="demo")


def test_a_raised_exception_is_an_error_result_naming_its_type():
    class Fails(Action):
        def run(self, context):
            raise ActionException("disk full")

    result = testing.run(Fails)
    assert result.error == "ActionException: disk full"
    assert result.failure == "raised"
    assert result.exception == "actions_api.exceptions.ActionException"
    assert isinstance(result.raised, ActionException)


def test_a_missing_parameter_is_invalid_input_and_nothing_runs():
    result = testing.run(Greet, {}, name="my.greet")
    assert not result.is_success()
    assert result.failure == "invalid_input" and result.exception == "InvalidInput"
    assert result.error == (
        "invalid input for action 'my.greet': missing required parameter(s): name "
        '(my.greet takes: name, punctuation="!")'
    )


def test_an_unexpected_parameter_is_invalid_input_unless_the_action_takes_kwargs():
    refused = testing.run(Greet, {"name": "Ann", "volume": 11}, name="my.greet")
    assert "unexpected parameter(s): volume" in refused.error

    class Open(Action):
        def __init__(self, **kwargs):
            self.kwargs = kwargs

        def run(self, context):
            return sorted(self.kwargs)

    assert testing.run(Open, {"volume": 11}).data == ["volume"]


@pytest.mark.parametrize(
    "params", [{}, {"output": 1, "loudness": 3}], ids=["missing", "unexpected"]
)
def test_the_kit_refuses_parameters_with_the_executors_own_words(fork_executor, params):
    from std_actions.basic import EchoAction

    by_executor = fork_executor.run("std.echo", params)
    by_kit = testing.run(EchoAction, params, name="std.echo")
    assert by_executor.error_type == "InvalidInput"
    assert by_kit.error == by_executor.error


def test_an_unsendable_result_is_an_error_naming_its_path():
    class ReturnsASet(Action):  # an object() is what even Mistral cannot convert
        def run(self, context):
            return {"ids": object()}

    result = testing.run(ReturnsASet, name="my.sets")
    assert result.failure == "not_serializable"
    assert result.error.startswith("my.sets returned an unsupported value: value of type")
    assert "$.data.ids" in result.error


@pytest.fixture(scope="module")
def plugin_actions():
    """The test plugin's module, imported in this process under its own name."""
    sys.path.insert(0, str(HERE / "plugins"))
    try:
        import testplugins_actions

        yield testplugins_actions
    finally:
        sys.path.remove(str(HERE / "plugins"))


@pytest.mark.parametrize(
    ("name", "class_name", "params"),
    [
        ("test.raise", "RaiseAction", {"message": "no way"}),
        ("test.sys_exit", "SysExitAction", {}),
        ("test.result_error", "ResultErrorAction", {}),
        ("test.unserializable", "UnserializableAction", {}),
        ("test.kwargs", "KwargsAction", {"a": 1, "b": [1, 2]}),
    ],
)
def test_the_outcome_equals_what_the_executor_returns_for_the_same_action(
    fork_executor, plugin_actions, name, class_name, params
):
    hosted = fork_executor.run(name, params, timeout=30)
    local = testing.run(getattr(plugin_actions, class_name), params, name=name)
    assert (local.data, local.error, local.cancel, local.exception) == (
        hosted.data,
        hosted.error,
        hosted.cancel,
        hosted.exception,
    )


# -- nested calls --------------------------------------------------------------------------------


def test_a_fake_executor_answers_nested_calls_and_records_them():
    fake = testing.FakeExecutor()
    fake.add("std.echo", lambda output: output * 2)
    fake.add("std.fail", Result(data="would fail"))
    ctx = testing.context(user_name="ann", workflow_name="wf", parent_actions=["outer"])
    result = testing.run(Reuser, context=ctx, executor=fake, name="my.reuser")
    assert result.data == {"echoed": "xx", "tested": "would fail"}
    echo, fail = fake.calls
    assert (echo.name, echo.params, echo.dry_run) == ("std.echo", {"output": "x"}, False)
    assert (fail.name, fail.params, fail.dry_run, fail.timeout) == (
        "std.fail",
        {"error_data": "e"},
        True,
        2,
    )


def test_a_nested_call_gets_the_callers_context_with_the_caller_as_last_parent():
    fake = testing.FakeExecutor().add("std.echo", "x").add("std.fail", None)
    ctx = testing.context(user_name="ann", workflow_name="wf", parent_actions=["outer"])
    testing.run(Reuser, context=ctx, executor=fake, name="my.reuser")
    nested = fake.calls_to("std.echo")[0].context
    assert nested.security == ctx.security
    assert nested.execution.workflow_name == "wf"
    assert nested.execution.parent_actions == ("outer", "my.reuser")


def test_a_fake_answer_that_is_an_action_class_runs_in_process_with_the_nested_context():
    fake = testing.FakeExecutor().add("std.echo", InnerEcho).add("std.fail", None)
    result = testing.run(Reuser, executor=fake, name="my.reuser")
    assert result.data["echoed"] == {"output": "x", "parents": ["my.reuser"]}


def test_a_fake_answer_that_raises_is_an_error_result_for_the_caller():
    def refuse(**params):
        raise ValueError("no echo today")

    class Strict(Action):
        def run(self, context):
            utils.get_action("std.echo", output="x").run(raise_on_error=True)

    fake = testing.FakeExecutor().add("std.echo", refuse)
    result = testing.run(Strict, executor=fake)
    assert result.error == "ActionException: action std.echo failed: ValueError: no echo today"


def test_a_nested_call_without_an_answer_fails_saying_how_to_add_one():
    fake = testing.FakeExecutor().add("std.echo", "x")
    result = testing.run(Reuser, executor=fake)
    assert result.is_success()  # the action itself looks only at .data
    assert [call.name for call in fake.calls] == ["std.echo", "std.fail"]
    echo_only = testing.FakeExecutor()

    class Calls(Action):
        def run(self, context):
            return utils.run_action("std.nothing").error

    answer = testing.run(Calls, executor=echo_only).data
    assert "no answer for it" in answer and "fake.add('std.nothing', ...)" in answer


def test_nested_params_that_cannot_cross_the_boundary_fail_in_the_action():
    class SendsASet(Action):
        def run(self, context):
            return utils.run_action("std.echo", output={1, 2})

    result = testing.run(SendsASet, executor=testing.FakeExecutor().add("std.echo", None))
    assert result.failure == "not_serializable"
    assert "$.params.output" in result.error


def test_nested_calls_in_a_run_without_a_fake_fail_naming_the_fake_executor():
    result = testing.run(Reuser)
    assert result.failure == "raised"
    assert "executor=actions_api.testing.FakeExecutor()" in result.error


def test_utils_outside_any_run_fails_naming_actions_api_testing():
    with pytest.raises(RuntimeError, match=r"only run actions from inside an action") as caught:
        utils.run_action("std.echo", output="x")
    assert "actions_api.testing.run" in str(caught.value)


# -- cancellation --------------------------------------------------------------------------------


def test_request_cancel_during_a_run_turns_cancel_requested_true():
    ticks = []

    def tick():
        ticks.append(1)
        if len(ticks) == 3:
            testing.request_cancel()

    fake = testing.FakeExecutor().add("progress.tick", tick)
    assert testing.run(WaitsForCancel, executor=fake).data == "stopped when asked"
    assert len(ticks) == 3


def test_a_run_can_start_already_cancelled():
    assert testing.run(WaitsForCancel, cancel_requested=True).data == "stopped when asked"


def test_a_cancel_does_not_outlive_its_run():
    testing.run(WaitsForCancel, cancel_requested=True)
    fake = testing.FakeExecutor().add("progress.tick", testing.request_cancel)
    assert testing.run(WaitsForCancel, executor=fake).data == "stopped when asked"
    assert len(fake.calls) == 1  # the second run began uncancelled
    assert api_context.cancel_requested() is False


def test_request_cancel_outside_a_run_is_a_clear_error():
    with pytest.raises(RuntimeError, match="cancel_requested=True"):
        testing.request_cancel()


# -- the runtime seam ----------------------------------------------------------------------------


def test_runs_nest_and_end_restores_the_outer_run():
    outer = runtime.begin(testing.context(user_name="outer"), action="outer")
    try:
        inner = runtime.begin(testing.context(user_name="inner"), action="inner")
        assert api_context.current().security.user_name == "inner"
        runtime.end(inner)
        assert api_context.current().security.user_name == "outer"
    finally:
        runtime.end(outer)
    assert runtime.current_run() is None


def test_a_cancel_that_arrives_before_the_run_applies_to_it():
    runtime.request_cancel()  # the host's reader thread may see it while the action loads
    run = runtime.begin(testing.context())
    try:
        assert api_context.cancel_requested() is True
    finally:
        runtime.end(run)
    run = runtime.begin(testing.context())
    try:
        assert api_context.cancel_requested() is False
    finally:
        runtime.end(run)


# -- the deprecation of run(self) ----------------------------------------------------------------


def test_the_old_style_deprecation_points_at_the_actions_own_definition():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert testing.run(OldStyle).data == "old style works"
    (warning,) = caught
    assert warning.category is DeprecationWarning
    assert (warning.filename, warning.lineno) == (__file__, OLD_STYLE_RUN_LINE)
    assert "OldStyle.run() takes no context" in str(warning.message)


def test_the_hosts_deprecation_log_line_names_the_plugins_file(fork_executor):
    result = fork_executor.run("test.old_style", timeout=30)
    (line,) = [line for line in result.logs if "DeprecationWarning" in line]
    assert "testplugins_actions.py:" in line
    assert "runner.py" not in line and "outcome.py" not in line


# -- the pytest fixture --------------------------------------------------------------------------


def test_the_pytest_plugin_is_registered_as_a_pytest11_entry_point():
    plugins = {ep.name: ep.value for ep in metadata.entry_points(group="pytest11")}
    assert plugins.get("actions_api") == "actions_api.pytest_plugin"


def test_the_action_runner_fixture_works_in_a_plain_pytest_run(pytester):
    pytester.makepyfile(
        test_plugin_author="""
        from actions_api import Action, utils

        class Hello(Action):
            def run(self, context):
                echoed = utils.run_action("std.echo", output="hi")
                return f"{echoed.data} {context.security.user_name}"

        def test_hello(action_runner):
            action_runner.add("std.echo", lambda output: output)
            action_runner.context = action_runner.context_for(user_name="ann")
            assert action_runner.run(Hello, name="my.hello").data == "hi ann"
            assert action_runner.calls[0].context.execution.parent_actions == ("my.hello",)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_user_guides_example_tests_pass_with_the_guides_command():
    # docs/user-guide.md: cd examples/guide_actions && python -m pytest tests
    guide = ROOT / "examples" / "guide_actions"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=guide,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout
