import warnings

from guide_actions.greet import Greet
from guide_actions.legacy import LegacyGreet
from guide_actions.reuse import CheckThenEcho, DoubleEcho
from guide_actions.whoami import WhoAmI

from actions_api import Result, testing


def test_greet_returns_a_greeting():
    result = testing.run(Greet, {"name": "Ann"})
    assert result.is_success()
    assert result.data == "Hello Ann!"


def test_greet_fails_on_an_empty_name_as_the_executor_would():
    result = testing.run(Greet, {"name": ""})
    assert result.error == "ActionException: name must not be empty"
    assert result.exception == "actions_api.exceptions.ActionException"


def test_greet_dry_run_calls_test():
    assert testing.run(Greet, {"name": "Ann"}, dry_run=True).data == "would greet Ann"


def test_whoami_reads_the_context_it_is_given():
    ctx = testing.context(user_name="ann", project_name="ops", workflow_name="nightly")
    result = testing.run(WhoAmI, context=ctx)
    assert result.data["user"] == "ann"
    assert result.data["audit"] == "ann@ops"  # context.current(), from a thread


def test_double_echo_reuses_std_echo(action_runner):
    action_runner.add("std.echo", lambda output: output)
    result = action_runner.run(DoubleEcho, {"text": "ab"}, name="guide.double_echo")
    assert result.data == "abab"
    assert [call.params for call in action_runner.calls] == [
        {"output": "ab"},
        {"output": "abab"},
    ]
    assert action_runner.calls[0].context.execution.parent_actions == ("guide.double_echo",)


def test_check_then_echo_fails_with_the_inner_error(action_runner):
    action_runner.add("std.fail", Result(error="check failed"))
    result = action_runner.run(CheckThenEcho, {"fail": True})
    assert result.error == "ActionException: action std.fail failed: check failed"


def test_the_legacy_action_warns_at_its_own_definition():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert testing.run(LegacyGreet, {"name": "Bo"}).data == "Hello Bo (old style)"
    assert caught[0].category is DeprecationWarning
    assert caught[0].filename.endswith("legacy.py")
