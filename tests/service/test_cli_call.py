"""``action-executor call``: an action run on a running ``serve`` through the
broker, its Result printed as ``run`` prints it, with the same exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import ServiceProcess

EXE = str(Path(sys.executable).parent / "action-executor")


def call(service: ServiceProcess, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXE, "call", *args, "--config-file", str(service.config_file), "--host", service.host],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_call_runs_a_std_action_on_serve_and_prints_its_result(alpha):
    proc = call(alpha, "std.echo", "output=hello")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {"action": "std.echo", "success": True, "data": "hello"}
    assert "Deprecat" not in proc.stderr  # oslo's eventlet warnings are not the user's


def test_call_takes_options_after_the_parameters(alpha):
    proc = call(alpha, "std.echo", "output=1", "--timeout", "30")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["data"] == 1


def test_a_failed_action_exits_1_with_its_error(alpha):
    proc = call(alpha, "std.fail")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["success"] is False and "Fail action expected exception" in out["error"]
    assert out["error_type"] not in ("InvalidInput", "ActionNotFound", "InvalidContext")


def test_an_unknown_action_is_refused_with_exit_2_naming_it(alpha):
    proc = call(alpha, "std.ehco", "output=1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["success"] is False and "std.ehco" in out["error"]
    assert "did you mean std.echo" in out["error"]
    assert out["error_type"] == "ActionNotFound"


def test_invalid_parameters_are_refused_with_exit_2_and_the_signature(alpha):
    proc = call(alpha, "std.echo", "volume=11")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert "missing required parameter(s): output" in out["error"]
    assert out["error_type"] == "InvalidInput"


def test_no_executor_listening_is_an_error_that_says_what_to_check(alpha):
    proc = call(alpha, "std.echo", "output=1", "--topic", "nobody_listens", "--timeout", "2")
    assert proc.returncode == 1
    assert "no executor answered on topic 'nobody_listens'" in proc.stderr
    assert "action-executor serve" in proc.stderr
