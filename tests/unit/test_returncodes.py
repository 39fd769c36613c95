"""How a host's end is described to the user (executor.hosts.process.describe_returncode,
protocol.exit_codes.ExitCode)."""

from __future__ import annotations

import signal

import pytest

from executor.hosts.process import describe_returncode, returncode_from_status
from protocol.exit_codes import ExitCode


@pytest.mark.parametrize("code", list(ExitCode), ids=lambda c: c.name)
def test_every_runtime_exit_code_is_described_in_words(code):
    text = describe_returncode(int(code))
    assert text == f"exited with code {int(code)} ({code.describe()})"
    assert code.describe()


def test_exit_code_values_are_unique():
    assert len({int(c) for c in ExitCode}) == len(ExitCode.__members__)


def test_the_protocol_and_runtime_failures_keep_their_numbers():
    # action-host and the executor may come from different builds: never renumber.
    assert (ExitCode.PROTOCOL_ERROR, ExitCode.INTERNAL_ERROR, ExitCode.CHILD_SETUP_FAILED) == (
        70,
        71,
        72,
    )


def test_an_exit_code_the_runtime_never_uses_is_reported_bare():
    assert describe_returncode(3) == "exited with code 3"


def test_an_unknown_exit_status_says_so():
    assert describe_returncode(None) == "ended, exit status unknown"


def test_sigkill_names_its_likely_causes():
    text = describe_returncode(-signal.SIGKILL)
    assert text.startswith("killed by SIGKILL")
    assert "out of memory" in text and "resource limit" in text


@pytest.mark.parametrize(
    ("sig", "words"),
    [
        (signal.SIGSEGV, "segmentation fault"),
        (signal.SIGXCPU, "CPU time limit"),
        (signal.SIGXFSZ, "file size limit"),
        (signal.SIGABRT, "SIGABRT"),
        (signal.SIGBUS, "bus error"),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else None,
)
def test_crash_signals_are_explained(sig, words):
    assert words in describe_returncode(-sig)


def test_other_signals_are_named():
    assert describe_returncode(-signal.SIGTERM) == "killed by signal SIGTERM"


def test_a_signal_number_without_a_name_is_reported_as_a_number():
    assert describe_returncode(-200) == "killed by signal 200"


def test_a_waitpid_status_becomes_a_popen_style_returncode():
    # waitpid: exit code in the high byte, the signal number in the low bits
    assert returncode_from_status(71 << 8) == 71
    assert returncode_from_status(signal.SIGKILL) == -signal.SIGKILL
