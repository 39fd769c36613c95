"""Why a host ended, in its exit code: each failure of its start has a code of its own.

The executor reports the code in words (``describe_returncode``); a code that
meant "wrong command line" for every start failure sent users to check argv.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from executor.cli import common
from executor.hosts.process import describe_returncode
from executor.service import cli as service_cli
from protocol.exit_codes import CommandExit, ExitCode


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "action_host", "--serve", *args],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "code", "said", "described"),
    [
        (
            ("--import", "no_such_module_for_this_test"),
            ExitCode.SETTINGS_FAILED,
            "no_such_module_for_this_test",
            "environment's settings",
        ),
        (
            ("--config-file", "/nonexistent/for-this-test.conf"),
            ExitCode.SETTINGS_FAILED,
            "/nonexistent/for-this-test.conf",
            "environment's settings",
        ),
        (
            ("--sandbox", '{"bogus": 1}'),
            ExitCode.CHILD_SETUP_FAILED,
            "cannot enter the sandbox",
            "sandbox",
        ),
    ],
    ids=["missing-module", "missing-config-file", "bad-sandbox"],
)
def test_a_start_failure_has_a_code_of_its_own_not_usage(args, code, said, described):
    proc = _serve(*args)
    assert proc.returncode == code
    assert said in proc.stderr
    assert described in describe_returncode(proc.returncode)


def test_a_host_whose_parent_is_gone_says_so():
    proc = _serve("--parent-pid", "1")  # not its parent: as if the executor had died
    assert proc.returncode == ExitCode.PARENT_GONE
    assert "parent gone" in describe_returncode(proc.returncode)


def test_the_start_failures_keep_their_numbers():
    # action-host and the executor may come from different builds: never renumber.
    assert (ExitCode.LAUNCH_FAILED, ExitCode.SETTINGS_FAILED, ExitCode.PARENT_GONE) == (73, 74, 75)


@pytest.mark.parametrize("module", [common, service_cli], ids=["action-executor", "serve"])
def test_the_commands_exit_codes_come_from_one_table(module):
    assert (module.EXIT_OK, module.EXIT_FAILED, module.EXIT_USAGE) == tuple(CommandExit)
    assert all(type(code) is CommandExit for code in (module.EXIT_FAILED, module.EXIT_USAGE))
