"""Test doubles for the service tests: a broker vhost, Mistral's engine, executor processes.

``EngineDouble`` plays Mistral's engine with oslo.messaging itself: it sends
``run_action`` (cast or call) with the arguments and context of the captured
messages, and serves ``on_action_complete`` / ``report_running_actions`` on
the engine topic, replying to calls as Mistral's engine does (the action
execution as a JSON text). ``ServiceProcess`` is a real ``action-executor
serve`` process, ready when it says so through systemd's notify protocol.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oslo_messaging as messaging

from executor.service import wire
from executor.service.client import rpc_conf
from executor.service.endpoint import RpcServer, current_is_call
from executor.service.engine import Raw, WireSerializer

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
BROKER = ("127.0.0.1", 5672)
ENGINE_REPLY = json.loads((FIXTURES / "11_reply_to_on_action_complete_call.json").read_text())


def fixture_message(name: str) -> dict[str, Any]:
    found = sorted(FIXTURES.glob(f"{name}*.json"))
    assert len(found) == 1, f"no single fixture named {name}*"
    message: dict[str, Any] = json.loads(found[0].read_text())["body"]["oslo.message"]
    return message


def fixture_context(name: str) -> dict[str, Any]:
    """The context as the engine's serializer produced it (the `_context_` keys, unprefixed)."""
    return {
        k[len("_context_") :]: v
        for k, v in fixture_message(name).items()
        if k.startswith("_context_")
    }


def rabbitmqctl(*args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {proc.stderr or proc.stdout}")
    return proc.stdout


@dataclass
class Broker:
    vhost: str

    @property
    def url(self) -> str:
        return f"rabbit://guest:guest@{BROKER[0]}:{BROKER[1]}/{self.vhost}"

    def connections_of(self, pid: int) -> list[str]:
        out = rabbitmqctl(
            "list_connections",
            "-p",
            self.vhost,
            "name",
            "client_properties",
            "--formatter",
            "json",
            "-q",
        )
        names = []
        for conn in json.loads(out or "[]"):
            props = conn.get("client_properties")
            text = json.dumps(props)
            if f":{pid}:" in text:
                names.append(conn["name"])
        return names

    def close_connections_of(self, pid: int) -> int:
        names = self.connections_of(pid)
        for name in names:
            rabbitmqctl("close_connection", name, "closed by the test", check=False)
        return len(names)


def broker_available() -> str | None:
    """None when RabbitMQ can be used, else what is wrong and how to fix it."""
    if shutil.which("rabbitmqctl") is None:
        return (
            "RabbitMQ is not installed (rabbitmqctl not found); install rabbitmq-server: "
            "these tests need a real broker on 127.0.0.1:5672"
        )
    try:
        socket.create_connection(BROKER, timeout=3).close()
    except OSError as exc:
        return (
            f"RabbitMQ does not answer on {BROKER[0]}:{BROKER[1]} ({exc}); start it with "
            "'rabbitmq-server -detached' (make test does)"
        )
    return None


@dataclass
class Completion:
    action_ex_id: str
    result: wire.WireResult | None
    result_text: str | None
    wf_action: str | None
    call: bool
    ctx: dict[str, Any]


class _EngineEndpoint:
    def __init__(self, engine: EngineDouble) -> None:
        self._engine = engine

    def on_action_complete(
        self, rpc_ctx: dict[str, Any], action_ex_id: Any, result: Any, wf_action: Any = None
    ) -> Any:
        call = current_is_call()
        ex_id = wire.decode(action_ex_id)
        done = Completion(ex_id, wire.decode_result(result), result, wf_action, call, rpc_ctx)
        self._engine._record("completions", done)
        if not call:
            return None
        time.sleep(self._engine.answer_delay)
        reply = json.loads(ENGINE_REPLY["body"]["oslo.message"]["result"])
        reply.update(id=ex_id, output={"result": done.result.error if done.result else None})
        return Raw(json.dumps(reply))

    def report_running_actions(self, rpc_ctx: dict[str, Any], action_ex_ids: Any) -> None:
        self._engine._record("heartbeats", (rpc_ctx, action_ex_ids, wire.decode(action_ex_ids)))


class EngineDouble:
    """Mistral's engine, as far as an executor can see it."""

    def __init__(self, broker: Broker, engine_topic: str = "mistral_engine") -> None:
        self.broker = broker
        self.conf = rpc_conf(broker.url)
        self.transport = messaging.get_rpc_transport(self.conf, url=broker.url)
        self.completions: list[Completion] = []
        self.answer_delay = 0.0  # seconds before a call is answered: a slow engine
        self.heartbeats: list[tuple[dict[str, Any], str, list[str]]] = []
        self._cond = threading.Condition()
        self.server = messaging.get_rpc_server(
            self.transport,
            messaging.Target(topic=engine_topic, server="engine-double"),
            [_EngineEndpoint(self)],
            executor="threading",
            serializer=WireSerializer(),
            server_cls=RpcServer,
        )
        self.server.start()
        self.client = messaging.get_rpc_client(
            self.transport,
            messaging.Target(topic="mistral_executor"),
            serializer=WireSerializer(),
            timeout=60,
        )

    def _record(self, kind: str, item: Any) -> None:
        with self._cond:
            getattr(self, kind).append(item)
            self._cond.notify_all()

    def run_action(
        self,
        fixture: str = "01",
        *,
        call: bool = False,
        host: str | None = None,
        topic: str | None = None,
        action: wire.DecodedAction | None = None,
        action_text: str | None = None,
        action_ex_id: str | None | bool = True,
        context: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **overrides: Any,
    ) -> Any:
        """Send the fixture's run_action; overrides are values (encoded here).

        ``action_ex_id=True`` keeps a fresh unique id (so tests never mix),
        a string sets it, None sends JSON null (run_sync). ``context``: values
        that replace the fixture's RPC context's (a caller's credentials).
        """
        message = fixture_message(fixture)
        args: dict[str, Any] = {k: Raw(v) for k, v in message["args"].items()}
        if action is not None:
            args["action"] = Raw(wire.encode_action(action))
        if action_text is not None:
            args["action"] = Raw(action_text)
        if action_ex_id is True:
            original = wire.decode(message["args"]["action_ex_id"])
            action_ex_id = str(uuid.uuid4()) if original else None
        args["action_ex_id"] = action_ex_id
        exec_ctx = wire.decode(message["args"]["exec_ctx"]) or {}
        if action_ex_id and exec_ctx:
            exec_ctx = {**exec_ctx, "action_execution_id": action_ex_id}
        args["exec_ctx"] = exec_ctx
        args.update(overrides)
        for name in drop:  # arguments an engine of another version does not send
            args.pop(name, None)
        ctx = {**copy.deepcopy(fixture_context(fixture)), **(context or {})}
        client = self.client
        if host or topic:
            client = client.prepare(**{k: v for k, v in (("server", host), ("topic", topic)) if v})
        if call:
            return client.call(ctx, "run_action", **args)
        client.cast(ctx, "run_action", **args)
        return action_ex_id

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(left)

    def completions_for(self, action_ex_id: str) -> list[Completion]:
        with self._cond:
            return [c for c in self.completions if c.action_ex_id == action_ex_id]

    def completion(self, action_ex_id: str, timeout: float = 30) -> Completion:
        self.wait_for(
            lambda: any(c.action_ex_id == action_ex_id for c in self.completions),
            timeout,
            f"on_action_complete for {action_ex_id}",
        )
        return self.completions_for(action_ex_id)[0]

    def reported_running(self, action_ex_id: str) -> list[tuple[dict[str, Any], str, list[str]]]:
        with self._cond:
            return [h for h in self.heartbeats if action_ex_id in h[2]]

    def close(self) -> None:
        self.server.stop()
        self.server.wait()
        self.transport.cleanup()


def sleep_action(seconds: float) -> wire.DecodedAction:
    return wire.DecodedAction("mistral.actions.std_actions.SleepAction", {}, {"_seconds": seconds})


def echo_action(output: Any, delay: float = 0.0) -> wire.DecodedAction:
    return wire.DecodedAction(
        "mistral.actions.std_actions.EchoAction", {}, {"output": output, "_delay": delay}
    )


class ServiceProcess:
    """``python -m executor.service --config-file FILE`` (what ``action-executor serve`` runs)."""

    def __init__(
        self,
        broker: Broker,
        workdir: Path,
        host: str,
        *,
        plugin_site: Path | None = None,
        sections: dict[str, dict[str, Any]] | None = None,
        config_file: Path | None = None,
        config_dirs: tuple[Path, ...] = (),
    ) -> None:
        """``config_file``: where its configuration is written (default: in
        ``workdir``); ``config_dirs``: ``--config-dir`` directories it also reads."""
        self.host = host
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_file = workdir / f"{host}.log"
        config: dict[str, dict[str, Any]] = {
            "DEFAULT": {"transport_url": broker.url, "log_file": self.log_file},
            "executor": {"host": host},
            "action_heartbeat": {"check_interval": 1},
            "action_executor": {"state_dir": workdir / "state"},
            "action_executor_service": {"delivery_retry_interval": 0.5},
        }
        if plugin_site is not None:
            config["action_executor"]["extra_paths"] = plugin_site
        for section, values in (sections or {}).items():
            config.setdefault(section, {}).update(values)
        self.config_file = config_file or workdir / f"{host}.conf"
        self.config_dirs = config_dirs
        self.config_file.write_text(
            "".join(
                f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                for section, values in config.items()
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 90) -> ServiceProcess:
        """Start and wait for READY=1 (sent once it consumes its queues)."""
        sock_dir = tempfile.mkdtemp(prefix="notify-")
        sock_path = os.path.join(sock_dir, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        env = {**os.environ, "NOTIFY_SOCKET": sock_path, "PYTHONWARNINGS": "ignore"}
        stderr = open(self.workdir / f"{self.host}.stderr", "ab")
        argv = [sys.executable, "-m", "executor.service", "--config-file", str(self.config_file)]
        for directory in self.config_dirs:
            argv += ["--config-dir", str(directory)]
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=stderr,
            stderr=stderr,
        )
        stderr.close()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"executor {self.host} exited with {self.proc.returncode} before it "
                        f"was ready:\n{self.diagnostics()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"executor {self.host} not ready after {timeout} s:\n{self.diagnostics()}"
                    )
                sock.settimeout(min(left, 0.5))
                try:
                    if b"READY=1" in sock.recv(4096):
                        return self
                except TimeoutError:
                    continue
        finally:
            sock.close()
            shutil.rmtree(sock_dir, ignore_errors=True)

    def diagnostics(self) -> str:
        parts = []
        for path in (self.log_file, self.workdir / f"{self.host}.stderr"):
            if path.exists():
                lines = [
                    line
                    for line in path.read_text(errors="replace").splitlines()
                    if "eventlet" not in line.lower()
                ]
                parts.append(f"--- {path.name}\n" + "\n".join(lines[-40:]))
        return "\n".join(parts)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
