"""The journal on a full or read-only file system: refuse clearly, never lose a result or a thread.

Each test mounts a tmpfs of its own (CI runs as root).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import echo_action

from executor.service import wire


def _mount(path: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs for the journal needs root (CI runs as root)")
    path.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    _mount(mnt, "size=1m,mode=0755")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(fs: Path) -> Path:
    filler = fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        return filler
    finally:
        os.close(fd)


def _journal(fs: Path) -> dict[str, dict[str, str]]:
    return {"action_executor_service": {"journal_file": str(fs / "journal.sqlite")}}


def test_a_full_journal_disk_refuses_actions_and_loses_nothing(make_service, engine, small_fs):
    topic = f"full_disk_{uuid.uuid4().hex[:8]}"
    service = make_service(
        "full-disk",
        executor={"topic": topic},
        action_executor={"max_concurrency": 4},
        **_journal(small_fs),
    ).start()
    filler = _fill(small_fs)
    while_full = [engine.run_action("01", topic=topic, action=echo_action(n)) for n in range(20)]
    refused = 0
    for n, ex_id in enumerate(while_full):
        done = engine.completion(ex_id, timeout=60)
        if done.result != wire.WireResult(data=n):
            assert "could not record the action" in done.result.error, done
            assert "journal_file" in done.result.error
            refused += 1
    assert refused > 0
    filler.unlink()
    after = [engine.run_action("01", topic=topic, action=echo_action(n)) for n in range(20)]
    for n, ex_id in enumerate(after):
        assert engine.completion(ex_id, timeout=60).result == wire.WireResult(data=n)
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    service.start()
    time.sleep(3)  # a restart sends nothing again
    assert [len(engine.completions_for(i)) for i in while_full + after] == [1] * 40
    logs = service.log_text() + (service.workdir / "full-disk.stderr").read_text()
    assert "Traceback" not in logs and "Exception in thread" not in logs


def test_the_journals_write_ahead_log_stays_small(make_service, engine, tmp_path):
    topic = f"wal_{uuid.uuid4().hex[:8]}"
    journal = tmp_path / "wal" / "journal.sqlite"
    make_service(
        "wal",
        executor={"topic": topic},
        action_executor_service={"journal_file": str(journal)},
    ).start()
    payload = "x" * 20_000
    ids = [engine.run_action("01", topic=topic, action=echo_action(payload)) for _ in range(200)]
    for ex_id in ids:
        engine.completion(ex_id, timeout=120)
    assert os.path.getsize(f"{journal}-wal") <= 1.5 * (1 << 20)


def test_an_unwritable_journal_stops_the_start_naming_the_file_and_the_fix(make_service, tmp_path):
    ro = tmp_path / "ro"
    _mount(ro, "size=1m,mode=0755,ro")
    try:
        service = make_service("ro-journal", **_journal(ro))
        with pytest.raises(AssertionError, match="exited with 1 before it was ready") as failed:
            service.start()
        assert f"the journal {ro}/journal.sqlite cannot be written" in str(failed.value)
        assert "journal_file" in str(failed.value)
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)


def test_actions_that_end_while_the_disk_is_full_are_reported_once(make_service, engine, small_fs):
    topic = f"full_disk_{uuid.uuid4().hex[:8]}"
    service = make_service(
        "full-in-flight",
        executor={"topic": topic},
        action_executor={"max_concurrency": 4},
        **_journal(small_fs),
    ).start()
    running = [
        engine.run_action("01", topic=topic, action=echo_action(n, delay=2)) for n in range(4)
    ]
    engine.wait_for(lambda: all(engine.reported_running(i) for i in running), 30, "all running")
    filler = _fill(small_fs)
    for n, ex_id in enumerate(running):
        assert engine.completion(ex_id, timeout=60).result == wire.WireResult(data=n)
    filler.unlink()
    time.sleep(2)  # the journal forgets them once it can
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    service.start()
    time.sleep(3)  # a restart reports nothing again
    assert [len(engine.completions_for(i)) for i in running] == [1] * 4
