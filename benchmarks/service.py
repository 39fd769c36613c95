"""The Mistral executor service through a real RabbitMQ: actions/s and latency.

From the ``run_action`` cast to the ``on_action_complete`` the engine gets,
for ``action-executor serve`` (each action in its own sandboxed host) and for
a minimal executor built the way Mistral's is (oslo.messaging's threading
server, the action run in a thread of the executor process), in the same run,
on the same broker, with the same closed-loop load (``--concurrency`` actions
in flight). std.echo is the action, so the broker and the executor, not the
action, are what is measured.

    .venv/bin/python benchmarks/service.py [--actions 400] [--concurrency 8]

It creates a RabbitMQ vhost of its own (rabbitmqctl) and deletes it at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

import oslo_messaging as messaging

from executor.service import wire
from executor.service.client import rpc_conf
from executor.service.engine import Raw, WireSerializer, admin_context

ECHO = "mistral.actions.std_actions.EchoAction"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


# -- the Mistral-like executor (run in its own process) ------------------------


class ThreadsEndpoint:
    """Mistral's DefaultExecutor, minimal: a thread per action, joined; result cast."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def run_action(self, rpc_ctx, action, action_ex_id, safe_rerun, exec_ctx, timeout=None):
        decoded = wire.decode_action(action)
        ex_id = wire.decode(action_ex_id)
        out: dict[str, Any] = {}

        def run() -> None:  # EchoAction.run
            out["r"] = decoded.data.get("output")

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(wire.decode(timeout))
        self._engine.cast(
            rpc_ctx,
            "on_action_complete",
            action_ex_id=ex_id,
            result=wire.WireResult(data=out.get("r")),
            wf_action=False,
        )
        return None


def threads_executor(url: str, topic: str, pool: int) -> None:
    conf = rpc_conf(url)
    transport = messaging.get_rpc_transport(conf, url=url)
    engine = messaging.get_rpc_client(
        transport, messaging.Target(topic="mistral_engine"), serializer=WireSerializer()
    )
    server = messaging.get_rpc_server(
        transport,
        messaging.Target(topic=topic, server="threads"),
        [ThreadsEndpoint(engine)],
        executor="threading",
        serializer=WireSerializer(),
    )
    server.start(override_pool_size=pool)
    print("READY", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    server.wait()


# -- the engine double and the load ---------------------------------------------


class Engine:
    def __init__(self, url: str) -> None:
        self.conf = rpc_conf(url)
        self.transport = messaging.get_rpc_transport(self.conf, url=url)
        self.done: dict[str, float] = {}
        self.sent: dict[str, float] = {}
        self.cond = threading.Condition()
        self.on_done: Any = None
        self.server = messaging.get_rpc_server(
            self.transport,
            messaging.Target(topic="mistral_engine", server="bench-engine"),
            [self],
            executor="threading",
            serializer=WireSerializer(),
        )
        self.server.start()

    def on_action_complete(self, rpc_ctx, action_ex_id, result, wf_action=None):
        ex_id = wire.decode(action_ex_id)
        with self.cond:
            self.done[ex_id] = time.perf_counter()
            self.cond.notify_all()
        if self.on_done:
            self.on_done()

    def report_running_actions(self, rpc_ctx, action_ex_ids):
        return None

    def client(self, topic: str) -> Any:
        return messaging.get_rpc_client(
            self.transport, messaging.Target(topic=topic), serializer=WireSerializer()
        )


def measure(engine: Engine, topic: str, actions: int, concurrency: int) -> dict[str, float]:
    client = engine.client(topic)
    ctx = admin_context()
    ids = [f"bench-{topic}-{uuid.uuid4().hex}" for _ in range(actions)]
    lock = threading.Lock()
    next_index = [0]

    def send_next() -> None:
        with lock:
            if next_index[0] >= len(ids):
                return
            ex_id = ids[next_index[0]]
            next_index[0] += 1
        action = wire.DecodedAction(ECHO, {}, {"output": ex_id, "_delay": 0.0})
        engine.sent[ex_id] = time.perf_counter()
        client.cast(
            ctx,
            "run_action",
            action=Raw(wire.encode_action(action)),
            action_ex_id=ex_id,
            safe_rerun=False,
            exec_ctx={"action_execution_id": ex_id},
            timeout=None,
        )

    engine.on_done = lambda: threading.Thread(target=send_next).start()
    started = time.perf_counter()
    for _ in range(concurrency):
        send_next()
    with engine.cond:
        engine.cond.wait_for(lambda: all(i in engine.done for i in ids), timeout=600)
    elapsed = time.perf_counter() - started
    engine.on_done = None
    lat = sorted((engine.done[i] - engine.sent[i]) * 1000 for i in ids)
    return {
        "rate": actions / elapsed,
        "p50": statistics.median(lat),
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def start_service(url: str, topic: str, concurrency: int, workdir: str) -> subprocess.Popen:
    conf = os.path.join(workdir, "bench.conf")
    with open(conf, "w") as f:
        f.write(
            f"[DEFAULT]\ntransport_url = {url}\nlog_file = {workdir}/service.log\n"
            f"[executor]\nhost = bench\ntopic = {topic}\n"
            f"[action_executor]\nstate_dir = {workdir}/state\nmax_concurrency = {concurrency}\n"
        )
    sock_path = os.path.join(workdir, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(120)
    proc = subprocess.Popen(
        [sys.executable, "-m", "executor.service", "--config-file", conf],
        env={**os.environ, "NOTIFY_SOCKET": sock_path, "PYTHONWARNINGS": "ignore"},
        stderr=subprocess.DEVNULL,
    )
    while b"READY=1" not in sock.recv(4096):
        pass
    sock.close()
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument(
        "--threads-executor", nargs=3, metavar=("URL", "TOPIC", "POOL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.threads_executor:
        url, topic, pool = args.threads_executor
        threads_executor(url, topic, int(pool))
        return 0
    vhost = f"mah-bench-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"rabbit://guest:guest@127.0.0.1:5672/{vhost}"
    procs: list[subprocess.Popen] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-service-") as workdir:
            engine = Engine(url)
            procs.append(start_service(url, "bench_ours", args.concurrency, workdir))
            threads = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--threads-executor",
                    url,
                    "bench_threads",
                    str(args.concurrency),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            procs.append(threads)
            assert threads.stdout is not None and threads.stdout.readline().strip() == "READY"
            rows = []
            for label, topic in (
                ("action-executor serve (sandboxed hosts)", "bench_ours"),
                ("in-process threads (Mistral's way)", "bench_threads"),
            ):
                measure(engine, topic, args.warmup, args.concurrency)
                rows.append((label, measure(engine, topic, args.actions, args.concurrency)))
            print(
                f"\n{args.actions} std.echo actions, {args.concurrency} in flight, "
                "run_action cast -> on_action_complete, real RabbitMQ\n"
            )
            print(f"{'executor':42} {'actions/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
            for label, r in rows:
                print(f"{label:42} {r['rate']:10.1f} {r['p50']:8.2f} {r['p99']:8.2f}")
            ratio = rows[0][1]["rate"] / rows[1][1]["rate"]
            print(f"\nthroughput of the service vs in-process threads: {ratio:.0%}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        rabbitmqctl("delete_vhost", vhost)
    return 0


if __name__ == "__main__":
    sys.exit(main())
