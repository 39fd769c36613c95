"""One action cannot inflate the executor's memory, stall it, or flood its log.

What an action prints is bounded three ways (``executor.runs.output``): bytes
per line, bytes kept per run in ``Result.logs``, and the rate at which lines
reach the executor's own log. The Result says what was dropped. Error texts
obey ``max_result_size`` like results do.
"""

from __future__ import annotations

import logging
import re
import time

import pytest

from executor import ErrorKind, Result
from executor.result import limit_error
from executor.runs.output import OutputLimits, RunOutput

MiB = 1024 * 1024
DEFAULT_LINE = 8 * 1024
DEFAULT_KEPT = 256 * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    assert match, field
    return int(match.group(1))


def _reset_peak_rss() -> None:
    """Start the peak RSS (VmHWM) over from the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _kept_bytes(result: Result) -> int:
    return sum(len(line.encode()) for line in result.logs)


# -- memory ------------------------------------------------------------------------


def test_fifty_lines_of_10_mib_leave_the_executors_memory_flat(executor):
    executor.run("test.hostile.sockets", timeout=120)  # the host path is warm
    _reset_peak_rss()
    before = _status_kib("VmRSS")
    result = executor.run("test.hostile.long_lines", {"lines": 50, "size": 10 * MiB}, timeout=300)
    growth_mib = (_status_kib("VmHWM") - before) / 1024
    assert result.is_success(), result.error
    assert growth_mib < 64, f"the executor grew by {growth_mib:.0f} MiB reading 500 MiB of lines"


def test_a_long_line_keeps_its_start_and_says_how_much_was_cut(executor):
    result = executor.run("test.hostile.long_lines", {"lines": 1, "size": 20_000}, timeout=120)
    [line, *_summary] = result.logs
    assert line.startswith("x" * DEFAULT_LINE)
    assert line.endswith(f"[... {20_000 - DEFAULT_LINE} more bytes of this line dropped]")
    assert result.logs_dropped == 0
    assert result.logs_dropped_bytes == 20_000 - DEFAULT_LINE


def test_a_run_keeps_at_most_max_log_bytes_and_the_result_says_what_was_dropped(executor):
    result = executor.run("test.hostile.long_lines", {"lines": 50, "size": 10 * MiB}, timeout=300)
    *kept, summary = result.logs
    assert sum(len(line.encode()) for line in kept) <= DEFAULT_KEPT + 64 * len(kept)
    assert result.logs_dropped == 50 - len(kept)
    assert result.logs_dropped_bytes == 50 * 10 * MiB - len(kept) * DEFAULT_LINE
    dropped_lines_bytes = result.logs_dropped * 10 * MiB
    assert f"{result.logs_dropped} lines ({dropped_lines_bytes} bytes) of output dropped" in summary
    assert f"{len(kept)} lines longer than {DEFAULT_LINE} bytes cut" in summary
    assert "max_log_bytes" in summary


def test_output_without_newlines_is_read_in_linear_time(executor):
    started = time.monotonic()
    result = executor.run("test.hostile.no_newline", {"total": 100 * MiB}, timeout=300)
    seconds = time.monotonic() - started
    assert result.is_success(), result.error
    # It was quadratic: 152 s. Linear reading takes about a second; the bound
    # leaves room for a loaded machine.
    assert seconds < 30, f"100 MiB without a newline took {seconds:.1f} s"
    [line, summary] = result.logs
    assert line.endswith(f"[... {100 * MiB - DEFAULT_LINE} more bytes of this line dropped]")
    assert summary.startswith(
        f"[output limit: 1 line longer than {DEFAULT_LINE} bytes cut "
        f"({100 * MiB - DEFAULT_LINE} bytes dropped)"
    )


# -- the executor's own log ----------------------------------------------------------


def test_a_stderr_flood_reaches_the_executors_log_at_the_configured_rate(executor, caplog):
    caplog.set_level(logging.INFO, logger="action")
    started = time.monotonic()
    result = executor.run("test.hostile.flood", {"lines": 1_000_000}, timeout=300)
    seconds = time.monotonic() - started
    assert result.is_success(), result.error
    records = [r for r in caplog.records if r.name == "action.test.hostile.flood"]
    flood = [r for r in records if "flood line" in r.getMessage()]
    # log_burst=200, log_rate=100 lines/s
    assert len(flood) <= 200 + 100 * seconds + 1, (len(flood), seconds)
    [notice] = [r for r in records if "not copied to this log" in r.getMessage()]
    assert f"{1_000_000 - len(flood)} lines" in notice.getMessage()
    assert _kept_bytes(result) <= DEFAULT_KEPT + 1024
    assert result.logs_dropped > 900_000


def test_a_flood_of_log_records_is_bounded_the_same_way(executor, caplog):
    caplog.set_level(logging.INFO, logger="action")
    result = executor.run("test.hostile.log_flood", {"records": 5000, "size": 200}, timeout=300)
    assert result.is_success(), result.error
    records = [
        r for r in caplog.records if r.name.startswith("action.") and "record" in r.getMessage()
    ]
    assert len(records) < 1000
    assert result.logs_dropped > 0
    assert _kept_bytes(result) <= DEFAULT_KEPT + 1024


def test_the_limits_are_configurable(make_executor, caplog):
    executor = make_executor(max_log_line_bytes=100, max_log_bytes=1000, log_rate=0, log_burst=3)
    caplog.set_level(logging.INFO, logger="action")
    result = executor.run("test.hostile.flood", {"lines": 1000}, timeout=120)
    assert result.is_success(), result.error
    *kept, summary = result.logs
    assert sum(len(line) for line in kept) <= 1000
    assert "1000 bytes of output (max_log_bytes), 100 bytes per line" in summary
    flood = [r for r in caplog.records if "flood line" in r.getMessage()]
    assert len(flood) == 3


def test_a_quiet_action_gets_all_its_lines_and_no_summary(executor):
    result = executor.run("test.print", timeout=120)
    assert sorted(result.logs) == sorted(
        ["hello from print", "hello from sys.stderr", "hello from fd 1", "hello from fd 2"]
    )
    assert (result.logs_dropped, result.logs_dropped_bytes) == (0, 0)


# -- error texts ---------------------------------------------------------------------


def test_an_exception_message_of_10_mib_is_cut_to_max_result_size(executor):
    result = executor.run("test.hostile.big_exception", {"size": 10 * MiB}, timeout=300)
    assert result.error_type is ErrorKind.ACTION_RAISED
    assert result.exception == "ValueError"
    assert len(result.error.encode()) <= executor.config.max_result_size
    assert result.error.startswith("ValueError: eeee")
    assert f"error text cut: it was {10 * MiB + len('ValueError: ')} bytes" in result.error
    assert "more than the limit of 1048576 bytes (max_result_size)" in result.error


def test_a_smaller_max_result_size_cuts_error_texts_smaller(make_executor):
    executor = make_executor(max_result_size=4096)
    result = executor.run("test.hostile.big_exception", {"size": 100_000}, timeout=120)
    assert result.error_type is ErrorKind.ACTION_RAISED
    assert len(result.error.encode()) <= 4096
    assert "(max_result_size)" in result.error


def test_an_error_result_too_large_is_refused_not_cut(executor):
    result = executor.run("test.hostile.big_error_result", {"size": 2 * MiB}, timeout=120)
    assert result.error_type is ErrorKind.RESULT_TOO_LARGE
    assert len(result.error) < 1000


def test_the_executor_cuts_an_oversize_error_text_itself():
    """A second guard, for a host that does not cut (an old runtime, a hostile one)."""
    result = Result(error="é" * 5000)
    limit_error(result, 1000)
    assert len(result.error.encode()) <= 1000
    assert "error text cut: it was 10000 bytes" in result.error
    small = Result(error="fine")
    limit_error(small, 1000)
    assert small.error == "fine"


# -- the accounting itself -------------------------------------------------------------


def _no_redaction(text: str) -> str:
    return text


@pytest.mark.parametrize("text", ["a" * 50, "é" * 50])
def test_lines_are_cut_by_utf8_bytes(text):
    output = RunOutput(OutputLimits(line_bytes=20, run_bytes=1000))
    output.add("a", logging.DEBUG, text, _no_redaction)
    [line] = output.lines
    kept = line.split(" [...")[0]
    assert len(kept.encode()) <= 20
    assert output.dropped_bytes == len(text.encode()) - len(kept.encode())


def test_lines_past_the_run_budget_are_counted_not_kept():
    output = RunOutput(OutputLimits(line_bytes=100, run_bytes=25))
    for i in range(10):
        output.add("a", logging.DEBUG, f"line {i:04d}", _no_redaction)  # 9 bytes each
    output.finish("a")
    assert output.lines[:2] == ["line 0000", "line 0001"]
    assert output.dropped_lines == 8
    assert output.dropped_bytes == 72
    assert output.lines[-1].startswith("[output limit: 8 lines (72 bytes) of output dropped")
