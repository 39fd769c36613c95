"""docs/user-guide.md: its code is the code of real examples, and they work as shown."""

import re
from decimal import Decimal

import pytest
from helpers import ROOT, register_source_package

from executor import Executor, ExecutorConfig

GUIDE = ROOT / "docs" / "user-guide.md"
BLOCK = re.compile(r"```\w*\n# file: (?P<path>[^\n]+)\n(?P<body>.*?)```", re.S)


def test_every_code_block_of_the_guide_is_the_file_it_names():
    blocks = list(BLOCK.finditer(GUIDE.read_text()))
    assert len(blocks) >= 8
    for block in blocks:
        assert (ROOT / block["path"]).read_text() == block["body"], (
            f"docs/user-guide.md shows an outdated copy of {block['path']}"
        )


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    paths = register_source_package(
        tmp_path_factory.mktemp("guide-site"), ROOT / "examples" / "guide_actions"
    )
    config = ExecutorConfig(state_dir=str(tmp_path_factory.mktemp("guide")), extra_paths=paths)
    with Executor(config) as ex:
        yield ex


def test_greet_returns_a_value(guide):
    assert guide.run("guide.greet", {"name": "Ann"}).data == "Hello Ann!"


def test_greet_raising_action_exception_fails_with_its_message(guide):
    assert guide.run("guide.greet", {"name": ""}).error == (
        "ActionException: name must not be empty"
    )


def test_greet_returning_an_error_result_fails_with_that_error(guide):
    assert guide.run("guide.greet", {"name": "nobody"}).error == {"reason": "nobody to greet"}


def test_greet_without_its_parameter_is_refused_before_it_runs(guide):
    result = guide.run("guide.greet", {})
    assert result.error_type == "InvalidInput"
    assert "missing required parameter(s): name" in result.error


def test_greet_dry_run_calls_its_test(guide):
    assert guide.run("guide.greet", {"name": "Ann"}, dry_run=True).data == "would greet Ann"


def test_whoami_sees_the_context_in_helpers_and_threads(guide):
    context = {
        "security": {"user_name": "ann", "project_name": "ops"},
        "execution": {"workflow_name": "nightly", "task_execution_id": "t-1"},
    }
    assert guide.run("guide.whoami", context=context).data == {
        "user": "ann",
        "workflow": "nightly",
        "task_execution_id": "t-1",
        "audit": "ann@ops",
    }


def test_double_echo_reuses_std_echo(guide):
    assert guide.run("guide.double_echo", {"text": "ab"}).data == "abab"


def test_check_then_echo_raises_on_the_inner_error(guide):
    assert guide.run("guide.check_then_echo", {"fail": False}).data == "checked"
    assert guide.run("guide.check_then_echo", {"fail": True}).error == (
        "ActionException: action std.fail failed: check failed"
    )


def test_the_legacy_action_runs_with_a_deprecation_warning(guide):
    result = guide.run("guide.legacy", {"name": "Bo"})
    assert result.data == "Hello Bo (old style)"
    assert any(
        "DeprecationWarning" in line and "LegacyGreet.run() takes no context" in line
        for line in result.logs
    )


def test_invoice_returns_a_registered_type(guide):
    result = guide.run(
        "guide.invoice", {"lines": [{"price": 1.5, "qty": 2}, {"price": 3, "qty": 1}]}
    )
    total = result.data["total"]
    assert total["__serial_key"] == "guide_actions.Money"
    assert Decimal(total["__serial_data"]["amount"]) == Decimal("6.0")
    assert result.data["lines"] == 2
