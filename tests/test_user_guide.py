"""docs/user-guide.md: its code is the code of real examples, and they work as shown."""

import re
from decimal import Decimal

import pytest
from helpers import ROOT, install_plugin, register_source_package

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


TOTAL = """
from decimal import Decimal

from actions_api import Action


class Total(Action):
    def run(self, context):
        return {"total": Decimal("6.0")}
"""


@pytest.fixture(scope="module")
def total_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("total-site")
    folder.chmod(0o755)  # a sandboxed host reads it as an unprivileged uid
    return install_plugin(folder, "total", "1.0", {"total_actions": TOTAL},
                          {"guide.total": "total_actions:Total"})  # fmt: skip


def test_a_decimal_in_a_result_arrives_as_its_string_with_the_warning_the_guide_quotes(
    total_site, tmp_path
):
    config = ExecutorConfig(state_dir=str(tmp_path), extra_paths=(str(total_site),))
    with Executor(config) as ex:
        result = ex.run("guide.total")
    assert result.data == {"total": "6.0"}
    warning = (
        "result value at $.data.total of type decimal.Decimal was converted to str the way "
        "Mistral does (strict_serialization refuses it instead)"
    )
    assert any(warning in line for line in result.logs), result.logs
    assert " ".join(warning.split()) in " ".join(GUIDE.read_text().replace("`", "").split())


def test_under_strict_serialization_the_decimal_is_refused_naming_its_path(total_site, tmp_path):
    config = ExecutorConfig(
        state_dir=str(tmp_path), extra_paths=(str(total_site),), strict_serialization=True
    )
    with Executor(config) as ex:
        result = ex.run("guide.total")
    assert result.error_type == "NotSerializable"
    assert "decimal.Decimal at $.data.total" in result.error
