"""The Mistral executor service through a real RabbitMQ: actions/s and latency.

From the ``run_action`` cast to the ``on_action_complete`` the engine gets,
for ``action-executor serve`` (each action in its own sandboxed host) and for
a minimal executor built the way Mistral's is (oslo.messaging's threading
server, the action run in a thread of the executor process), in the same run,
on the same broker, with the same closed-loop load (``--concurrency`` actions
in flight). std.echo is the action, so the broker and the executor, not the
action, are what is measured.

    .venv/bin/python benchmarks/service.py [--actions 400] [--concurrency 8 32] [--json]
    .venv/bin/python benchmarks/service.py --actions 600 --concurrency 8 32 --record
                                    # a full run, written into docs/benchmarks.md

Besides throughput and latency it prints the CPU each action cost, by
process: the service (``serve``), its templates, the action hosts they fork
(reaped by the templates, so counted from the templates' children's time),
the in-process executor, the engine double (this process), RabbitMQ, and the
kernel's worker threads (namespace and cgroup teardown is charged there).
Run it on a quiet machine: other work shows up in the kernel's share.

It creates a RabbitMQ vhost of its own (rabbitmqctl) and deletes it at the end.
"""

from __future__ import annotations

import argparse
import json
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
import record

from executor.service import wire
from executor.service.client import rpc_conf
from executor.service.engine import Raw, WireSerializer, admin_context

ECHO = "mistral.actions.std_actions.EchoAction"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


# -- CPU by process ---------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, str, int, int] | None:
    """(ppid, name, own ticks, reaped children's ticks) of ``pid``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return int(fields[1]), name, utime + stime, cutime + cstime


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_by_process(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far, by the labels of ``benchmarks/service.py``'s table.

    ``roots`` names processes whose whole tree is one label (the in-process
    executor), except ``serve``, whose templates and their forked hosts are
    labels of their own: a forked host is reaped by its template (or by the
    template's pid namespace init), so its time is the template's children's.
    """
    stats = {pid: s for pid in _pids() if (s := _stat(pid)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> list[int]:
        found, todo = [], [root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    out: dict[str, float] = {}
    for label, root in roots.items():
        if root not in stats:
            continue
        if label != "serve":
            out[label] = sum(stats[p][2] + stats[p][3] for p in tree(root)) / _TICK
            continue
        out["serve"] = stats[root][2] / _TICK
        templates = [p for p in tree(root) if "--template" in _cmdline(p) and p != root]
        in_templates = {c for p in templates for c in tree(p)}
        out["templates"] = sum(stats[p][2] for p in templates if _is_template(p, stats)) / _TICK
        out["hosts"] = (
            sum(stats[p][3] for p in in_templates)
            + sum(stats[p][2] for p in in_templates if not _is_template(p, stats))
        ) / _TICK
    out["engine double (this process)"] = sum(os.times()[:2])
    out["rabbitmq"] = sum(s[2] for s in stats.values() if s[1] in ("beam.smp", "epmd")) / _TICK
    out["kernel workers"] = sum(s[2] for p, s in stats.items() if s[0] == 2 or p == 2) / _TICK
    return out


def _is_template(pid: int, stats: dict[int, tuple[int, str, int, int]]) -> bool:
    """A template, not one of the hosts it forked (which share its command line)."""
    parent = stats[pid][0]
    return "--template" not in _cmdline(parent) or parent not in stats


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


# -- the Mistral-like executor (run in its own process) ------------------------


class ThreadsEndpoint:
    """Mistral's DefaultExecutor, minimal: the start reported running at once
    (``action_heartbeat_sender.add_action``), a thread per action, joined;
    result cast."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def run_action(self, rpc_ctx, action, action_ex_id, safe_rerun, exec_ctx, timeout=None):
        decoded = wire.decode_action(action)
        ex_id = wire.decode(action_ex_id)
        # action_heartbeat_sender.add_action: one report per start, at once
        self._engine.cast(rpc_ctx, "report_running_actions", action_ex_ids=[ex_id])
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


def measure_with_cpu(
    engine: Engine, topic: str, actions: int, concurrency: int, roots: dict[str, int]
) -> dict[str, Any]:
    before = cpu_by_process(roots)
    row: dict[str, Any] = measure(engine, topic, actions, concurrency)
    after = cpu_by_process(roots)
    row["cpu_ms_per_action"] = {
        label: (after[label] - before.get(label, 0.0)) * 1000 / actions for label in after
    }
    return row


def run_all(args: argparse.Namespace, url: str, workdir: str, procs: list[Any]) -> dict[str, Any]:
    """Both executors at each concurrency, side by side on one broker."""
    most = max(args.concurrency)
    engine = Engine(url)
    service = start_service(url, "bench_ours", most, workdir)
    procs.append(service)
    threads = subprocess.Popen(
        [sys.executable, __file__, "--threads-executor", url, "bench_threads", str(most)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    procs.append(threads)
    assert threads.stdout is not None and threads.stdout.readline().strip() == "READY"
    by_concurrency: dict[str, Any] = {}
    if args.profile:
        profile(engine, service.pid, args)
    for concurrency in args.concurrency:
        rows = {}
        for key, topic, root in (
            ("service", "bench_ours", {"serve": service.pid}),
            ("inprocess", "bench_threads", {"in-process executor": threads.pid}),
        ):
            measure(engine, topic, args.warmup, concurrency)
            rows[key] = measure_with_cpu(engine, topic, args.actions, concurrency, root)
        by_concurrency[str(concurrency)] = {
            "service_throughput": rows["service"]["rate"],
            "inprocess_throughput": rows["inprocess"]["rate"],
            "service_ratio": rows["service"]["rate"] / rows["inprocess"]["rate"],
            "service_p50_ms": rows["service"]["p50"],
            "inprocess_p50_ms": rows["inprocess"]["p50"],
            "service_p99_ms": rows["service"]["p99"],
            "inprocess_p99_ms": rows["inprocess"]["p99"],
            "cpu_ms_per_action_by_process": {
                "service": rows["service"]["cpu_ms_per_action"],
                "inprocess": rows["inprocess"]["cpu_ms_per_action"],
            },
        }
    first = by_concurrency[str(args.concurrency[0])]
    return {"actions": args.actions, **first, "by_concurrency": by_concurrency}


def profile(engine: Engine, pid: int, args: argparse.Namespace) -> None:
    """Sample ``serve`` with py-spy while it runs actions: the thread holding
    the GIL (``--gil``: Python's work, not the idle threads that wait); the
    collapsed stacks go to ``args.profile`` (flamegraph.pl or speedscope read them)."""
    spy = subprocess.Popen(
        ["py-spy", "record", "-p", str(pid), "-r", "200", "--gil", "-n", "--format", "raw"]
        + ["-o", args.profile],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached
    measure(engine, "bench_ours", args.actions, max(args.concurrency))
    spy.send_signal(signal.SIGINT)
    spy.wait(60)


def print_table(report: dict[str, Any]) -> None:
    for concurrency, r in report["by_concurrency"].items():
        print(
            f"\n{report['actions']} std.echo actions, {concurrency} in flight, "
            "run_action cast -> on_action_complete, real RabbitMQ\n"
        )
        print(f"{'executor':42} {'actions/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
        for label, key in (
            ("action-executor serve (sandboxed hosts)", "service"),
            ("in-process threads (Mistral's way)", "inprocess"),
        ):
            print(
                f"{label:42} {r[f'{key}_throughput']:10.1f} "
                f"{r[f'{key}_p50_ms']:8.2f} {r[f'{key}_p99_ms']:8.2f}"
            )
        print(f"throughput of the service vs in-process threads: {r['service_ratio']:.0%}")
        print(f"\nCPU ms per action, by process ({concurrency} in flight)")
        for key, cpu in r["cpu_ms_per_action_by_process"].items():
            parts = "  ".join(f"{label} {ms:.2f}" for label, ms in cpu.items())
            print(f"  {key:10} total {sum(cpu.values()):6.2f}:  {parts}")


def markdown(report: dict[str, Any], command: str) -> str:
    """The figures as docs/benchmarks.md's section of this script."""
    lines = [
        "## The service: `action-executor serve` beside Mistral's way",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, `{command}`: "
        f"{report['actions']} std.echo actions per row, from the `run_action` cast to the "
        "`on_action_complete` the engine double gets, through a real RabbitMQ; both executors "
        "side by side in one run. In-process: oslo.messaging's threading server running the "
        "action in a thread of the executor and reporting its start at once, as Mistral's "
        "executor does.",
        "",
        "| in flight | executor | actions/s | p50 ms | p99 ms | CPU ms per action |",
        "|---|---|---|---|---|---|",
    ]
    for concurrency, r in report["by_concurrency"].items():
        for label, key in (("`serve`", "service"), ("in-process", "inprocess")):
            cpu = sum(r["cpu_ms_per_action_by_process"][key].values())
            lines.append(
                f"| {concurrency} | {label} | {r[f'{key}_throughput']:.1f} | "
                f"{r[f'{key}_p50_ms']:.1f} | {r[f'{key}_p99_ms']:.1f} | {cpu:.2f} |"
            )
        lines.append(f"| {concurrency} | ratio | {r['service_ratio']:.0%} | | | |")
    for concurrency, r in report["by_concurrency"].items():
        cpu = r["cpu_ms_per_action_by_process"]["service"]
        lines += [
            "",
            f"| `serve`'s CPU ms per action, {concurrency} in flight | " + " | ".join(cpu) + " |",
            "|---" * (len(cpu) + 1) + "|",
            "| | " + " | ".join(f"{ms:.2f}" for ms in cpu.values()) + " |",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=400, help="actions per measurement")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[8],
        help="actions in flight; several values measure each (e.g. 8 32)",
    )
    parser.add_argument("--warmup", type=int, default=40, help="actions run before measuring")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--record",
        action="store_true",
        help="also write the figures into docs/benchmarks.md (its service section)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="before measuring, sample serve with py-spy (pip install py-spy) into FILE",
    )
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
    procs: list[subprocess.Popen[Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-service-") as workdir:
            report = run_all(args, url, workdir, procs)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        rabbitmqctl("delete_vhost", vhost)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    if args.record:
        command = " ".join(["benchmarks/service.py", *sys.argv[1:]])
        record.record("service", markdown(report, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
