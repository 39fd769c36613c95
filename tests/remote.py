"""The client of ``remote_executor.py``: an executor in a process of its own.

``RemoteExecutor.run`` takes and returns what ``Executor.run`` does, so one
test can drive an executor running as root, as a service user, or inside a
network namespace of the test's own.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor.errors import ErrorKind
from executor.result import Result

HARNESS = Path(__file__).resolve().parent / "remote_executor.py"


class RemoteRefused(RuntimeError):
    """The executor refused to start (its sandbox cannot be enforced there)."""


@dataclass
class RemoteConfig:
    state_dir: str


class RemoteExecutor:
    def __init__(
        self,
        python: str,
        config: dict[str, Any],
        prefix: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str = "/",
        start_timeout: float = 120.0,
    ) -> None:
        """Start ``python remote_executor.py CONFIG`` (behind ``prefix``, e.g.
        ``setpriv ...`` or ``ip netns exec NAME``); raises ``RemoteRefused``."""
        self.config = RemoteConfig(config["state_dir"])
        harness = config.pop("_harness", str(HARNESS))
        self.proc = subprocess.Popen(
            [*(prefix or []), python, harness, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env if env is not None else {"PATH": "/usr/local/bin:/usr/bin:/bin"},
            cwd=cwd,
        )
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            self.proc.wait(10)
            raise RuntimeError(
                f"the remote executor exited ({self.proc.returncode}) before it was ready: "
                + "".join(self._stderr)[-3000:]
            )
        hello = json.loads(first)
        if "refused" in hello:
            self.proc.wait(30)
            raise RemoteRefused(hello["refused"])
        self.pid: int = hello["pid"]
        self.uid: int = hello["uid"]
        self.lease: tuple[int, int] | None = tuple(hello["lease"]) if hello["lease"] else None
        threading.Thread(target=self._read, daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self._lock:
                future = self._pending.pop(message.get("id"), None)
            if future is not None:
                future.set_result(message)
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(RuntimeError("the remote executor exited: " + self.stderr))

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)[-5000:]

    def _call(self, request: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            request["id"] = next(self._ids)
            self._pending[request["id"]] = future
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        answer = future.result(timeout)
        if "failure" in answer:
            raise RuntimeError(f"remote executor: {answer['failure']}")
        return answer

    def run(
        self,
        action: str,
        params: dict[str, Any] | None = None,
        *,
        context: Any = None,
        timeout: float | None = None,
    ) -> Result:
        raw = self._call(
            {
                "op": "run",
                "action": action,
                "params": params,
                "context": context,
                "timeout": timeout,
            }
        )["result"]
        kind = raw.pop("error_type")
        return Result(**raw, error_type=ErrorKind(kind) if kind else None)

    def actions(self) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = self._call({"op": "actions"})["actions"]
        return actions

    def templates(self) -> dict[str, int]:
        templates: dict[str, int] = self._call({"op": "stats"})["templates"]
        return templates

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def environ_for(home: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}


__all__ = ["RemoteExecutor", "RemoteRefused", "environ_for", "os"]
