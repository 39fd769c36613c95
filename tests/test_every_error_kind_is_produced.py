"""Every ``ErrorKind`` is a promise to programs that branch on it: each is
produced by the executor, and some test pins where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from executor import Executor, ExecutorConfig
from executor.errors import ErrorKind
from executor.hosts import session
from executor.runs.output import OutputLimits
from executor.runs.tree import Run
from executor.sandbox.model import SandboxPolicy
from protocol import PROTOCOL_VERSION
from protocol.messages import ActionContextModel

TESTS = Path(__file__).resolve().parent


def _asserting(kind: ErrorKind) -> list[str]:
    """Test files with a line comparing an ``error_type`` with ``kind``."""
    named = rf"(ErrorKind\.{kind.name}\b|[\"']{kind.value}[\"'])"
    pattern = re.compile(rf"error_type.*{named}|{named}.*error_type")
    return [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name and pattern.search(path.read_text())
    ]


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
def test_every_error_kind_is_asserted_by_a_test_outside_this_file(kind):
    if kind in _PINNED_HERE:
        return
    assert _asserting(kind), f"no test asserts a Result with error_type {kind.value}"


def test_a_nested_run_whose_caller_already_ended_is_cancelled_before_it_starts(make_executor):
    ex = make_executor().start()
    caller = Run.root("std.echo", ActionContextModel(), {}, 10.0, OutputLimits())
    caller.finish()
    nested = caller.nest("std.echo", {"output": 1}, None)

    result = ex.pipeline.execute(nested, {"output": 1}, dry_run=False)

    assert result.error_type == ErrorKind.CANCELLED
    assert result.error == "cancelled: the calling action ended"


@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_an_environment_runtime_of_another_protocol_version_gives_version_mismatch(
    make_executor, monkeypatch, launcher
):
    monkeypatch.setattr(session, "PROTOCOL_VERSION", "0.9")  # this executor speaks 0.9
    ex = make_executor(launcher=launcher)

    result = ex.run("std.echo", {"output": 1})

    assert result.error_type == ErrorKind.VERSION_MISMATCH
    assert "0.9" in result.error and PROTOCOL_VERSION in result.error


def test_an_environment_store_that_cannot_be_read_gives_catalog_unavailable(tmp_path):
    config = ExecutorConfig(state_dir=str(tmp_path / "state"), sandbox=SandboxPolicy(enabled=False))
    with Executor(config) as ex:
        envs = Path(ex.store.root)
        envs.parent.mkdir(parents=True, exist_ok=True)
        envs.write_text("not a directory")  # a broken state directory

        result = ex.run("std.echo", {"output": 1})

    assert result.error_type == ErrorKind.CATALOG_UNAVAILABLE
    assert result.error.startswith("cannot list actions: ")


_PINNED_HERE = {ErrorKind.CANCELLED, ErrorKind.VERSION_MISMATCH, ErrorKind.CATALOG_UNAVAILABLE}
