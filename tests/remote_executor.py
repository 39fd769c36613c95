"""An ``Executor`` in a process of its own, driven over stdin/stdout with JSON lines.

The sandbox is tested where operators run it: as root, as a service user
with the capabilities our systemd unit grants, as a plain user, and inside
network namespaces the tests make. Each of those is a process of its own
(its own uid, capabilities, cgroup, network), so the tests drive an
executor there through this script; ``tests/remote.py`` is the client.

    python remote_executor.py CONFIG_JSON

``CONFIG_JSON``: ``ExecutorConfig`` fields, ``sandbox`` holding
``SandboxPolicy`` fields. It prints ``{"ready": ...}`` once started (or
``{"refused": message}`` and exits 3 when the sandbox cannot be enforced),
then answers each request line ``{"id", "op": "run"|"actions"|"stats",
...}`` with ``{"id", ...}``, requests running at once; EOF closes it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from executor import Executor, ExecutorConfig
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.policy import SandboxUnavailable

_out = threading.Lock()


def _send(message: dict[str, Any]) -> None:
    with _out:
        sys.stdout.write(json.dumps(message, default=repr) + "\n")
        sys.stdout.flush()


def _policy(raw: dict[str, Any]) -> SandboxPolicy:
    raw = dict(raw)
    for key in ("uid_range", "egress_deny", "egress_allow", "required"):
        if key in raw:
            raw[key] = tuple(raw[key])
    return SandboxPolicy(**raw)


def _config(raw: dict[str, Any]) -> ExecutorConfig:
    raw = dict(raw)
    policy = _policy(raw.pop("sandbox", {}))
    by_env = {name: _policy(p) for name, p in raw.pop("sandbox_by_env", {}).items()}
    for key in ("extra_paths", "hidden_paths", "host_config_files"):
        if key in raw:
            raw[key] = tuple(raw[key])
    return ExecutorConfig(**raw, sandbox=policy, sandbox_by_env=by_env)


def _result(result: Any) -> dict[str, Any]:
    return {
        "data": result.data,
        "error": result.error,
        "cancel": result.cancel,
        "action": result.action,
        "error_type": str(result.error_type) if result.error_type else None,
        "exception": result.exception,
        "is_sync": result.is_sync,
        "host_pid": result.host_pid,
        "timings": result.timings,
        "peak_memory": result.peak_memory,
        "cpu_time": result.cpu_time,
        "logs": result.logs,
    }


def _serve(executor: Executor, request: dict[str, Any]) -> None:
    op = request.get("op")
    try:
        if op == "run":
            result = executor.run(
                request["action"],
                request.get("params") or {},
                context=request.get("context"),
                timeout=request.get("timeout"),
            )
            _send({"id": request["id"], "result": _result(result)})
        elif op == "actions":
            infos = [a.model_dump(mode="json") for a in executor.actions(refresh=True)]
            _send({"id": request["id"], "actions": infos})
        elif op == "stats":
            stats = executor.stats()
            _send({"id": request["id"], "templates": stats.templates})
        else:
            _send({"id": request.get("id"), "failure": f"unknown op {op!r}"})
    except Exception as exc:  # the test sees it, not a hang
        _send({"id": request.get("id"), "failure": f"{type(exc).__name__}: {exc}"})


def main() -> int:
    config = _config(json.loads(sys.argv[1]))
    executor = Executor(config)
    try:
        executor.start()
    except SandboxUnavailable as exc:
        _send({"refused": str(exc)})
        return 3
    lease = executor.sandbox.lease
    _send(
        {
            "ready": True,
            "pid": os.getpid(),
            "uid": os.geteuid(),
            "lease": None if lease is None else [lease.uid, lease.count],
        }
    )
    workers = []
    for line in sys.stdin:
        if not line.strip():
            continue
        worker = threading.Thread(target=_serve, args=(executor, json.loads(line)), daemon=True)
        worker.start()
        workers.append(worker)
    executor.close()  # ends runs still in flight (ExecutorClosed), as close() does
    for worker in workers:
        worker.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
