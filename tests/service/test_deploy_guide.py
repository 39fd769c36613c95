"""docs/deploy-mistral.md, walked word for word as an operator walks it, as
root: every ``sh`` block runs whole (``bash -e``), in order, in a clone of
this checkout; every ``console`` block's commands run and must print what
the guide shows (tests/markdown_walk.py). A block right after
``<!-- walk: skip (why) -->`` does not run; the test names each one.

The walk runs in a mount namespace of its own whose /opt, /etc, /var/lib and
/srv are overlays: the guide's real paths (/opt/mistral-action-host,
/etc/mistral, /etc/mistral-action-host, /var/lib/mistral-action-host, the
unit in /etc/systemd/system) are written there and are gone with the test;
this machine's own are never touched. Two things differ from the page: the
broker's address (the test's own RabbitMQ vhost), and systemd, which does
not run here: in the walk ``systemctl`` is a shell function that asks the
test to play systemd's part (tests/service/systemd_double.py) with the unit
file the guide installed: the service runs as the unit's user, with its
capabilities and its delegated cgroup. The plugin the guide installs from
/srv/my-mistral-actions is the tutorial's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from deployments import CLEAN_ENV, ensure_user
from harness import Broker
from helpers import ROOT, tutorial_plugin
from markdown_walk import FENCE, console_commands, missing_lines
from sandbox_support import REGISTRY_SETTINGS
from systemd_double import RunningUnit, UnitFile, cap_mask, status_of, uid_of

GUIDE = ROOT / "docs" / "deploy-mistral.md"
SKIP = re.compile(r"<!-- walk: skip \((?P<why>.+)\) -->")
#: The guide's broker, which the walk replaces with the test's own vhost.
GUIDE_BROKER = "rabbit://guest:guest@127.0.0.1:5672/"
#: Where the walk writes: overlays over this machine's directories.
LAYERS = ("opt", "etc", "var/lib", "srv")
UNIT_PATH = "/etc/systemd/system/action-executor.service"
#: The operator's environment: this machine's way to the package registry.
OPERATOR_SETTINGS = (*REGISTRY_SETTINGS, "PIP_")
#: root's PATH on Debian (runuser and useradd are in sbin)
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Block:
    lang: str
    body: str
    skipped: str | None  # why, for a block the walk does not run


def blocks(markdown: str) -> list[Block]:
    """The guide's ``sh`` and ``console`` blocks, in order."""
    found = []
    for fence in FENCE.finditer(markdown):
        if fence["lang"] not in ("sh", "console"):
            continue
        before = markdown[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.fullmatch(before)
        found.append(Block(fence["lang"], fence["body"], skip["why"] if skip else None))
    return found


def test_the_guide_walks_from_install_to_stop_and_skips_only_what_it_names():
    walked = blocks(GUIDE.read_text())
    skipped = [b.body.splitlines()[0] for b in walked if b.skipped]
    assert skipped == [
        "action-executor sandbox check --config-file /etc/mistral/mistral.conf \\",
        "$ curl -s http://127.0.0.1:9464/healthz",
    ]
    run = "\n".join(b.body for b in walked if not b.skipped)
    order = [
        "make dist",
        "python3 -m venv /opt/mistral-action-host",
        "install --env ops /srv/my-mistral-actions",
        "/etc/mistral-action-host/conf.d/executor.conf",
        "/etc/mistral/mistral.conf",
        f"etc/systemd/action-executor.service {UNIT_PATH}",
        "systemctl daemon-reload && systemctl enable --now action-executor",
        "call std.echo output=hello --host executor-1",
        "systemctl stop action-executor",
    ]
    positions = [run.find(step) for step in order]
    assert -1 not in positions, dict(zip(order, positions, strict=True))
    assert positions == sorted(positions)
    assert run.count(GUIDE_BROKER) == 1


def test_the_guides_paths_are_the_units(tmp_path):
    unit = UnitFile.parse((ROOT / "etc" / "systemd" / "action-executor.service").read_text())
    guide = GUIDE.read_text()
    for path in (
        *unit.exec_start[0:1],
        *unit.exec_start[2:],
        unit.environment["ACTION_EXECUTOR_STATE_DIR"],
    ):
        if path.startswith("/"):
            assert path in guide, path
    assert f"/var/lib/{unit.service['StateDirectory']}" in guide


class Walk:
    """The operator's shell: a mount namespace whose /opt, /etc, /var/lib and
    /srv are overlays (upper layers in ``layers``), held by a process that
    sleeps until the walk ends."""

    def __init__(self, layers: Path, clone: Path, requests: Path) -> None:
        self.layers = layers
        self.clone = clone
        self.requests = requests
        self.holder: subprocess.Popen[str] | None = None
        self.env = {
            **CLEAN_ENV,
            "PATH": ROOT_PATH,
            "HOME": "/root",
            **{k: v for k, v in os.environ.items() if k.startswith(OPERATOR_SETTINGS)},
        }

    def enter(self) -> None:
        mounts = []
        for layer in LAYERS:
            upper, work = self.layers / layer / "upper", self.layers / layer / "work"
            upper.mkdir(parents=True, exist_ok=True)
            work.mkdir(parents=True, exist_ok=True)
            lower = Path("/", layer).stat()
            os.chmod(upper, lower.st_mode & 0o7777)
            os.chown(upper, lower.st_uid, lower.st_gid)
            mounts.append(
                f"mount -t overlay overlay -o lowerdir=/{layer},upperdir={upper},workdir={work}"
                f" /{layer}"
            )
        script = " && ".join(mounts) + " && echo ready && exec sleep 3600"
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        assert line == "ready\n", line + self.holder.stdout.read()

    @property
    def nsenter(self) -> list[str]:
        assert self.holder is not None
        return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", "--"]

    def sh(self, script: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``script`` as the operator's shell runs it, in the clone."""
        prelude = (
            f"systemctl() {{ printf '%s\\n' \"$*\" >> {shlex.quote(str(self.requests))}; }}\n"
            f"cd {shlex.quote(str(self.clone))}\n"
        )
        return subprocess.run(
            [*self.nsenter, "bash", "-e", "-c", prelude + script],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def close(self) -> None:
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()


class Systemd:
    """systemd's part in the walk: what the guide's ``systemctl`` lines ask."""

    def __init__(self, walk: Walk, log: Path) -> None:
        self.walk = walk
        self.log = log
        self.unit: RunningUnit | None = None
        self.stopped: int | None = None

    def __call__(self, request: str) -> None:
        if request == "daemon-reload":
            return
        if request == "enable --now action-executor":
            self._start()
        elif request == "stop action-executor":
            assert self.unit is not None, "stop before the unit started"
            self.stopped = self.unit.stop()
        else:
            pytest.fail(f"the guide asks 'systemctl {request}', which the walk does not play")

    def _start(self) -> None:
        text = self.walk.sh(f"cat {UNIT_PATH}")
        assert text.returncode == 0, text.stderr
        unit = UnitFile.parse(text.stdout)
        env = {**CLEAN_ENV, "HOME": "/nonexistent"}
        self.unit = RunningUnit(
            unit, unit.exec_start, env=env, log=self.log, prefix=self.walk.nsenter
        )
        self.unit.start()
        assert self.unit.proc is not None
        status = status_of(self.unit.proc.pid)
        assert status["Uid"].split()[0] == str(uid_of(unit.user))
        assert int(status["CapEff"], 16) == cap_mask(unit.caps)

    def close(self) -> None:
        if self.unit is not None:
            self.unit.close()


def _clone(where: Path) -> Path:
    """The checkout's tracked files, with the test venv linked in: make's
    ``dist`` needs ``venv``, which the copies' times keep from rebuilding it
    (that would reinstall the test venv from the copy)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, where / name)
    (where / ".venv").symlink_to(ROOT / ".venv")
    built = (ROOT / ".venv" / ".installed").stat().st_mtime
    for name in ("setup.cfg", "pyproject.toml"):
        os.utime(where / name, (built - 1, built - 1))
    fresh = subprocess.run(["make", "-q", "venv"], cwd=where, capture_output=True, check=False)
    assert fresh.returncode == 0, "make would rebuild the test venv from the copy"
    return where


def _note(transcript: Path, text: str) -> None:
    with open(transcript, "a") as f:
        f.write(text + "\n")


def _plugin(srv: Path, tmp_path: Path) -> None:
    """The operator's checkout of a plugin: the tutorial's, owned by root and
    readable by all, in /srv (the walk's upper layer of it)."""
    target = srv / "my-mistral-actions"
    shutil.copytree(tutorial_plugin(tmp_path / "tutorial"), target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.slow
def test_the_deployment_guide_works_word_for_word_as_root_for_a_service_user(
    broker: Broker, tmp_path
):
    ensure_user("mistral")  # as Mistral's packages leave it: the guide's `id mistral` finds it
    requests = tmp_path / "systemctl-requests"
    walk = Walk(tmp_path / "layers", _clone(tmp_path / "clone"), requests)
    _plugin(tmp_path / "layers" / "srv" / "upper", tmp_path)
    systemd = Systemd(walk, tmp_path / "journal.log")
    transcript = tmp_path / "walk.txt"  # what the operator saw, for a failure and for notes
    walk.enter()
    try:
        for block in blocks(GUIDE.read_text()):
            if block.skipped:
                continue
            if block.lang == "sh":
                started = time.monotonic()
                proc = walk.sh(block.body.replace(GUIDE_BROKER, broker.url))
                shown = f"{block.body}\n--- printed:\n{proc.stdout}{proc.stderr}"
                _note(transcript, f"{shown}--- {time.monotonic() - started:.1f} s\n")
                assert proc.returncode == 0, shown
            else:
                for command in console_commands(block.body):
                    proc = walk.sh(command.line, timeout=180)
                    shown = f"$ {command.line}\n{proc.stdout}{proc.stderr}"
                    _note(transcript, shown)
                    journal = systemd.unit.output()[-3000:] if systemd.unit else ""
                    assert proc.returncode == command.exit_code, f"{shown}\n--- serve:\n{journal}"
                    assert not missing_lines(command, proc.stdout + proc.stderr), shown
            for request in requests.read_text().splitlines() if requests.exists() else []:
                systemd(request)
                _note(transcript, f"[systemd: {request}] done\n")
            requests.unlink(missing_ok=True)
        assert systemd.stopped == 0, systemd.unit.output()[-3000:] if systemd.unit else ""
        journal = systemd.unit.output() if systemd.unit else ""
        assert "action std.echo" in journal and "ended: success" in journal, journal[-3000:]
        assert journal.rstrip().endswith("stopped"), journal[-3000:]
    finally:
        systemd.close()
        walk.close()
