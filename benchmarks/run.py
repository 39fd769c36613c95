"""Isolation cost, measured side by side: in-process, spawn, fork, fork+sandbox, a stdlib peer.

    make bench                                    # = .venv/bin/python benchmarks/run.py --quick
    .venv/bin/python benchmarks/run.py            # full run (a few minutes)
    .venv/bin/python benchmarks/run.py --quick    # under a minute, fewer samples
    .venv/bin/python benchmarks/run.py --json     # one JSON object on stdout

Run it with the project's interpreter (``.venv/bin/python``, built by ``make
venv``): it imports the executor and its dependencies.

Modes, each on std.noop and std.echo:

* in-process: the action class called in a new thread of this process, the
  way Mistral's own executor runs actions (the floor; no isolation at all);
* spawn: a fresh interpreter per action (how StackStorm runs Python actions),
  without the sandbox;
* fork: a fresh child forked from a warm template per action, without the
  sandbox (``SandboxPolicy(enabled=False)``): the cost of the process alone;
* fork+sandbox: the same with the default ``SandboxPolicy`` (what the executor
  does unless told otherwise; docs/security.md);
* peer: the Python standard library's "a fresh process per task",
  ``ProcessPoolExecutor(max_workers=2, max_tasks_per_child=1)`` with the
  forkserver start method, running the same no-op (std.noop only; its
  throughput at concurrency 2, i.e. its two workers), its fork server
  preloading what the task imports (see ``PeerPool``).

Latency is sequential, one request every ``--pace`` ms (5 ms, as
docs/floors.md measures open-loop latency), and also back to back. Throughput
is closed-loop at concurrency 1, 2 and 8. Memory: RSS of this process (the
executor) and of the template, and PSS of children running concurrently.
Page faults per action: the minor faults of the template's reaped children
(``cminflt`` in /proc/<template>/stat) over a batch, divided by its size
(approximate: spares forked during the batch but not yet reaped are missed,
spares from before it are counted).
The table goes to stdout; a full run also writes it to ``docs/benchmarks.md``
(a quick run only with ``--output``: its fewer samples make noisier figures).

``--openstack`` measures something else instead: mistral-extra 17's
generated ``nova.servers_list`` against the test suite's stand-in cloud on
loopback (installing mistral-extra into a fresh state directory first): its
first run (template start, imports, its generator), its second (a child forked
after the template imported it) and the p50 of later runs, next to std.noop.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import record  # noqa: E402  (benchmarks/record.py, beside this script)

from actions_api import ActionContext  # noqa: E402
from executor import Executor, ExecutorConfig  # noqa: E402
from executor.sandbox.model import SandboxPolicy  # noqa: E402
from std_actions.basic import EchoAction, NoOpAction  # noqa: E402

PAYLOADS = (1024, 100 * 1024, 1024 * 1024)
ACTIONS = {
    "std.noop": (NoOpAction, {}),
    "std.echo": (EchoAction, {"output": "hello"}),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the three ways to run an action --------------------------------------------


class InProcess:
    """Mistral's way: instantiate, run in a fresh thread, join."""

    name = "in-process"

    def run(self, action: str, params: dict[str, Any]) -> Any:
        cls, _ = ACTIONS[action]
        box: list[Any] = []
        thread = threading.Thread(target=lambda: box.append(cls(**params).run(None)))
        thread.start()
        thread.join()
        return box[0] if box else None

    def close(self) -> None:
        pass


class Isolated:
    def __init__(
        self, launcher: str, state_dir: str, sandbox: SandboxPolicy, name: str | None = None
    ) -> None:
        self.name = name or launcher
        self.executor = Executor(
            ExecutorConfig(
                state_dir=state_dir,
                launcher=launcher,
                max_concurrency=64,
                sandbox=sandbox,
                max_result_size=4 * 1024 * 1024,  # room for the 1 MiB echo
            )
        )

    def run(self, action: str, params: dict[str, Any]) -> Any:
        result = self.executor.run(action, params)
        if not result.is_success():
            raise RuntimeError(f"{action} failed in {self.name} mode: {result.error}")
        return result.data

    def close(self) -> None:
        self.executor.close()


def _noop() -> Any:
    """What the peer runs: the std.noop action, as in-process runs it."""
    return NoOpAction().run(ActionContext())


class PeerPool:
    """``ProcessPoolExecutor(max_tasks_per_child=1)`` with forkserver: the
    standard library's fresh process per task, given the same head start as our
    templates: the fork server imports what the task needs once.

    Each worker re-imports this script (``__main__``) before its task, and
    CPython 3.11's fork server never preloads ``__main__`` itself (its default
    preload looks for a ``main_path`` key that the preparation data names
    ``init_main_from_path``); without the preload below every task would pay
    for importing the executor, about 150-450 ms here, which is not the pool's
    own cost.
    """

    name = "peer"

    def __init__(self, preload: bool = True) -> None:
        context = get_context("forkserver")
        if preload:
            context.set_forkserver_preload(["executor", "std_actions.basic"])
        self.pool = ProcessPoolExecutor(max_workers=2, max_tasks_per_child=1, mp_context=context)

    def run(self, action: str, params: dict[str, Any]) -> Any:
        if action != "std.noop":
            raise ValueError("the peer runs std.noop only")
        return self.pool.submit(_noop).result()

    def close(self) -> None:
        self.pool.shutdown()


# -- measurements ---------------------------------------------------------------


def latency(runner: Any, action: str, n: int, pace: float) -> list[float]:
    params = ACTIONS[action][1]
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        runner.run(action, params)
        samples.append(time.perf_counter() - started)
        if pace:
            time.sleep(pace)
    return samples


def throughput(runner: Any, action: str, n: int, concurrency: int) -> float:
    params = ACTIONS[action][1]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: runner.run(action, params), range(n)))
    return n / (time.perf_counter() - started)


def template_pid_of(executor: Executor) -> int:
    """The pid of the default environment's template (fork launcher)."""
    return executor.stats().templates[executor.default_env.name]


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _cminflt(pid: int) -> int:
    """Minor faults of ``pid``'s reaped children (field 11 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[8])  # fields[0] is field 3 (state): cminflt is field 11


def faults_per_action(runner: Isolated, n: int) -> float:
    """Minor page faults per action of the forked children (see the module doc)."""
    template_pid = template_pid_of(runner.executor)
    time.sleep(0.3)  # let the teardown of earlier children finish
    before = _cminflt(template_pid)
    latency(runner, "std.noop", n, 0.002)
    time.sleep(0.5)
    return (_cminflt(template_pid) - before) / n


def child_pss(runner: Isolated, concurrency: int = 8) -> tuple[float, int]:
    """Mean PSS (MiB) of children while ``concurrency`` actions run at once."""
    template_pid = template_pid_of(runner.executor)
    samples: list[int] = []
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [
            pool.submit(runner.run, "std.echo", {"output": "x", "delay": 1.0})
            for _ in range(concurrency)
        ]
        time.sleep(0.6)
        with open(f"/proc/{template_pid}/task/{template_pid}/children") as f:
            pids = [int(p) for p in f.read().split()]
        for pid in pids:
            try:
                samples.append(_pss_kib(pid))
            except OSError:
                pass
        for future in futures:
            future.result()
    return statistics.mean(samples) / 1024, len(samples)


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of ``pid``: utime+stime, cutime+cstime."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15
    children = (int(fields[13]) + int(fields[14])) / _TICK  # fields 16 and 17
    return own, children


def cpu_split(runner: Isolated, n: int, concurrency: int = 2) -> dict[str, float]:
    """CPU ms per action at ``concurrency``, by process: this one (the executor),
    the template, and its children (reaped, so counted in its cutime/cstime)."""
    template_pid = template_pid_of(runner.executor)
    time.sleep(0.3)
    t0, c0 = _cpu_of(template_pid)
    e0 = os.times()
    throughput(runner, "std.noop", n, concurrency)
    time.sleep(0.5)  # the last children's teardown and reaping
    e1 = os.times()
    t1, c1 = _cpu_of(template_pid)
    return {
        "executor": (e1.user + e1.system - e0.user - e0.system) * 1000 / n,
        "template": (t1 - t0) * 1000 / n,
        "child": (c1 - c0) * 1000 / n,
    }


def payload_latency(runner: Any, size: int, n: int) -> tuple[float, float]:
    """p50 and p99 (ms) of std.echo returning ``size`` bytes, paced 5 ms."""
    params = {"output": "x" * size}
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        data = runner.run("std.echo", params)
        samples.append(time.perf_counter() - started)
        if len(data) != size:
            raise RuntimeError(f"std.echo returned {len(data)} bytes, not {size}")
        time.sleep(0.005)
    return statistics.median(samples) * 1000, percentile(samples, 0.99) * 1000


def many_environments(state_dir: str, count: int) -> dict[str, float]:
    """Memory of ``count`` environments each holding a warm template (and its
    spares): each environment runs one action, then the templates and spares
    are measured together."""
    from executor.environments.model import Environment
    from executor.hosts.fork.launcher import ForkLauncher
    from executor.layout import StateLayout
    from executor.sandbox.runtime import SandboxRuntime
    from protocol.handlers import Handlers

    config = ExecutorConfig(state_dir=state_dir, sandbox=SandboxPolicy(enabled=False))
    launcher = ForkLauncher(config, Handlers(), SandboxRuntime(StateLayout(state_dir)))
    launcher.start()
    rss_before = _status_kib(os.getpid(), "VmRSS")
    try:
        for i in range(count):
            launcher.prepare(Environment(f"bench-{i}", sys.executable))
        time.sleep(1.0)  # spares forked
        templates = list(launcher.stats().templates.values())
        pids = list(templates)
        for pid in templates:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        pss = sum(_pss_kib(pid) for pid in pids) / 1024
        rss = sum(_status_kib(pid, "VmRSS") for pid in templates) / 1024
    finally:
        launcher.close()
    return {
        "environments": count,
        "processes": len(pids),
        "pss_total_mib": pss,
        "template_rss_mean_mib": rss / count,
        "executor_growth_mib": (_status_kib(os.getpid(), "VmRSS") - rss_before) / 1024,
    }


def concurrent_sleepers(
    state_dir: str, count: int, seconds: int, probes: int, say: Any
) -> dict[str, float]:
    """``count`` std.sleep running at once from one executor (default sandbox),
    their total memory, and the latency of ``probes`` std.echo started meanwhile."""
    executor = Executor(
        ExecutorConfig(state_dir=state_dir, max_concurrency=count + 16, queue_size=count + 16)
    )
    try:
        # Every action of the run used once first: with preload_actions = used
        # a template that meets a new action makes way for one that preloads it.
        for name, params in (("std.sleep", {"seconds": 0}), ("std.echo", {"output": "warm"})):
            executor.run(name, params)
        pool = ThreadPoolExecutor(count)
        started = time.perf_counter()
        futures = [
            pool.submit(executor.run, "std.sleep", {"seconds": seconds}) for _ in range(count)
        ]

        def children() -> list[int]:
            pid = template_pid_of(executor)  # the template serving now
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    return [int(p) for p in f.read().split()]
            except FileNotFoundError:  # replaced between the two reads
                return []

        while len(children()) < count and time.perf_counter() - started < seconds * 0.6:
            time.sleep(0.1)
        all_started = time.perf_counter() - started
        say(f"1000-concurrent: {len(children())} children running after {all_started:.1f} s")
        probe_samples = []
        for _ in range(probes):
            t = time.perf_counter()
            result = executor.run("std.echo", {"output": "probe"})
            probe_samples.append(time.perf_counter() - t)
            if not result.is_success():
                raise RuntimeError(f"std.echo failed during the concurrent run: {result.error}")
        running = children()
        executor_pss = _pss_kib(os.getpid())  # its callers' 1000 threads included
        pss = executor_pss + _pss_kib(template_pid_of(executor))
        for pid in running:
            try:
                pss += _pss_kib(pid)
            except OSError:
                pass
        results = [f.result() for f in futures]
        pool.shutdown()
        elapsed = time.perf_counter() - started
    finally:
        executor.close()
    return {
        "count": count,
        "seconds": seconds,
        "succeeded": sum(1 for r in results if r.is_success()),
        "running_at_peak": len(running),
        "start_all_s": all_started,
        "total_pss_mib": pss / 1024,
        "pss_per_action_mib": pss / 1024 / max(1, len(running)),
        "executor_pss_mib": executor_pss / 1024,
        "probe_p50_ms": statistics.median(probe_samples) * 1000,
        "probe_p99_ms": percentile(probe_samples, 0.99) * 1000,
        "elapsed_s": elapsed,
    }


def openstack_runs(say: Any, later: int) -> str:
    """The ``--openstack`` table (see the module's docstring)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from openstack_standins import USER, start_cloud, stop_cloud

    state_dir = tempfile.mkdtemp(prefix="bench-extra-")
    cloud = start_cloud()
    context = {"security": {**cloud.security_context(), "user_id": USER}}
    rows: list[tuple[str, float, float]] = []
    try:
        config = ExecutorConfig(state_dir=state_dir, sandbox=SandboxPolicy(network="host"))
        with Executor(config) as ex:
            say("installing mistral-extra==17.0.0 into environment 'extra' (a minute or more)")
            ex.install("extra", ["mistral-extra==17.0.0"], progress=say)
            for label in ("first run", "second run"):
                say(f"nova.servers_list: {label}")
                started = time.perf_counter()
                result = ex.run("nova.servers_list", context=context)
                assert result.is_success(), result.error
                seconds = time.perf_counter() - started
                rows.append((f"nova.servers_list, {label}", seconds * 1000, result.timings["load"]))
            for action in ("nova.servers_list", "std.noop"):
                say(f"{action}: {later} later runs")
                times, loads = [], []
                for _ in range(later):
                    started = time.perf_counter()
                    result = ex.run(action, context=context)
                    times.append(time.perf_counter() - started)
                    loads.append(result.timings.get("load", 0.0))
                median = statistics.median(times) * 1000
                rows.append((f"{action}, later runs (p50 of {later})", median, max(loads)))
    finally:
        stop_cloud(cloud)
    lines = [
        "| mistral-extra, environment 'extra' | ms | load in the host (s) |",
        "|---|---:|---:|",
        *(f"| {label} | {ms:.1f} | {load:.3f} |" for label, ms, load in rows),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples: under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pace", type=float, default=5.0, help="ms between sequential runs")
    parser.add_argument(
        "--output", help="Markdown file (default: docs/benchmarks.md; a quick run: none)"
    )
    parser.add_argument(
        "--openstack",
        action="store_true",
        help="instead: first and later runs of mistral-extra's nova.servers_list "
        "(installs mistral-extra 17 first)",
    )
    args = parser.parse_args()
    quick = args.quick
    if args.openstack:
        began = time.monotonic()
        print(
            openstack_runs(
                lambda t: print(f"[{time.monotonic() - began:5.1f} s] {t}", file=sys.stderr),
                20 if quick else 200,
            )
        )
        return 0
    if args.output is None and not quick:
        args.output = os.path.join(ROOT, "docs", "benchmarks.md")
    # --quick must stay under a minute on a loaded 2-vCPU machine: spawn costs
    # 0.2-0.8 s per action there, so its sample counts are the ones to keep small.
    n_lat = 200 if quick else 2000
    n_lat_spawn = 6 if quick else 100
    n_tp = 300 if quick else 2000
    n_tp_spawn = 6 if quick else 100
    n_lat_peer = 100 if quick else 1000
    n_tp_peer = 150 if quick else 1000
    n_plain_peer = 20 if quick else 200  # each task re-imports the executor
    n_payload = 30 if quick else 300
    n_cpu = 300 if quick else 2000
    n_sleepers, sleep_seconds = (200, 5) if quick else (1000, 20)
    n_faults = 60 if quick else 500
    pace = args.pace / 1000

    began = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - began:5.1f} s] {text}", file=sys.stderr, flush=True)

    state_dir = tempfile.mkdtemp(prefix="bench-state-")
    no_sandbox = SandboxPolicy(enabled=False)
    runners: dict[str, Any] = {
        "in-process": InProcess(),
        "fork": Isolated("fork", state_dir, no_sandbox),
        "fork+sandbox": Isolated("fork", state_dir, SandboxPolicy(), name="fork+sandbox"),
        # the default sandbox without its cgroup per action: what the cgroups cost
        "fork+sandbox, no cgroup": Isolated(
            "fork",
            state_dir,
            SandboxPolicy(memory_limit=None, max_processes=None, cpu_weight=None),
            name="fork+sandbox, no cgroup",
        ),
        "spawn": Isolated("spawn", state_dir, no_sandbox),
        "peer": PeerPool(),
        "peer (no preload)": PeerPool(preload=False),
    }
    for runner in runners.values():  # warm up: index, template, spares
        for _ in range(3):
            runner.run("std.noop", {})
    time.sleep(0.5)

    rows: dict[str, dict[str, Any]] = {}
    for mode, runner in runners.items():
        row: dict[str, Any] = {}
        n_paced = {
            "spawn": n_lat_spawn,
            "peer": n_lat_peer,
            "peer (no preload)": n_plain_peer,
        }.get(mode, n_lat)
        n_closed = {
            "spawn": n_tp_spawn,
            "peer": n_tp_peer,
            "peer (no preload)": n_plain_peer,
        }.get(mode, n_tp)
        peer = mode.startswith("peer")
        # --quick: the peers and fork+sandbox measure only what the summary reports
        short = peer or (quick and mode == "fork+sandbox") or mode.endswith("no cgroup")
        for action in ["std.noop"] if short else list(ACTIONS):
            say(f"{mode}: {action} latency, {n_paced} runs paced {args.pace:g} ms")
            paced = latency(runner, action, n_paced, pace)
            row[f"{action} p50"] = statistics.median(paced) * 1000
            row[f"{action} p99"] = percentile(paced, 0.99) * 1000
        if not peer:
            say(f"{mode}: std.noop latency back to back")
            b2b = latency(runner, "std.noop", n_paced, 0)
            row["std.noop b2b p50"] = statistics.median(b2b) * 1000
            row["std.noop b2b p99"] = percentile(b2b, 0.99) * 1000
        if peer:
            levels: tuple[int, ...] = (2,)
        elif mode == "spawn":
            levels = (1, 2, 8)
        elif short:
            levels = (2, 64)
        else:
            levels = (1, 2, 8, 64)
        for concurrency in levels:
            say(f"{mode}: throughput at concurrency {concurrency}, {n_closed} actions")
            time.sleep(0.3)
            row[f"c{concurrency}"] = throughput(runner, "std.noop", n_closed, concurrency)
        if mode in ("in-process", "fork", "fork+sandbox"):
            for size in PAYLOADS:
                n = max(10, n_payload // 3) if size >= 1024 * 1024 else n_payload
                say(f"{mode}: std.echo of {size // 1024} KiB, {n} runs")
                row[f"echo {size}"] = payload_latency(runner, size, n)
        if mode in ("fork", "fork+sandbox"):
            say(f"{mode}: page faults of {n_faults} children")
            row["minflt"] = faults_per_action(runner, n_faults)
            say(f"{mode}: CPU per action by process, {n_cpu} actions at concurrency 2")
            row["cpu"] = cpu_split(runner, n_cpu)
        rows[mode] = row

    memory = {"executor_rss_mib": _status_kib(os.getpid(), "VmRSS") / 1024}
    fork = runners["fork"]
    template_pid = template_pid_of(fork.executor)
    memory["template_rss_mib"] = _status_kib(template_pid, "VmRSS") / 1024
    say("fork: PSS of 8 concurrently running children")
    memory["child_pss_mib"], memory["children_sampled"] = child_pss(fork)
    for runner in runners.values():
        runner.close()
    say("10 environments, each with a warm template and its spares")
    envs = many_environments(state_dir, 10)
    say(f"{n_sleepers} std.sleep seconds={sleep_seconds} at once (default sandbox)")
    sleepers = concurrent_sleepers(state_dir, n_sleepers, sleep_seconds, 100, say)

    summary = {
        "inprocess_p50_ms": rows["in-process"]["std.noop p50"],
        "fork_p50_ms": rows["fork"]["std.noop p50"],
        "fork_p99_ms": rows["fork"]["std.noop p99"],
        "spawn_p50_ms": rows["spawn"]["std.noop p50"],
        "fork_backtoback_p50_ms": rows["fork"]["std.noop b2b p50"],
        "inprocess_throughput_c2": rows["in-process"]["c2"],
        "fork_throughput_c1": rows["fork"]["c1"],
        "fork_throughput_c2": rows["fork"]["c2"],
        "fork_throughput_c8": rows["fork"]["c8"],
        "spawn_throughput_c2": rows["spawn"]["c2"],
        "fork_sandbox_p50_ms": rows["fork+sandbox"]["std.noop p50"],
        "fork_sandbox_p99_ms": rows["fork+sandbox"]["std.noop p99"],
        "fork_sandbox_throughput_c2": rows["fork+sandbox"]["c2"],
        "fork_sandbox_no_cgroup_p50_ms": rows["fork+sandbox, no cgroup"]["std.noop p50"],
        "fork_sandbox_no_cgroup_throughput_c2": rows["fork+sandbox, no cgroup"]["c2"],
        "peer_pool_p50_ms": rows["peer"]["std.noop p50"],
        "peer_pool_throughput_c2": rows["peer"]["c2"],
        "peer_pool_no_preload_throughput_c2": rows["peer (no preload)"]["c2"],
        "fork_throughput_c64": rows["fork"]["c64"],
        "fork_sandbox_throughput_c64": rows["fork+sandbox"]["c64"],
        "fork_cpu_ms_per_action": sum(rows["fork"]["cpu"].values()),
        "fork_sandbox_cpu_ms_per_action": sum(rows["fork+sandbox"]["cpu"].values()),
        "ten_envs_pss_total_mib": envs["pss_total_mib"],
        "concurrent_count": sleepers["count"],
        "concurrent_succeeded": sleepers["succeeded"],
        "concurrent_total_pss_mib": sleepers["total_pss_mib"],
        "concurrent_probe_p99_ms": sleepers["probe_p99_ms"],
        "fork_minflt_per_action": rows["fork"]["minflt"],
        "fork_sandbox_minflt_per_action": rows["fork+sandbox"]["minflt"],
        "child_pss_mib": memory["child_pss_mib"],
        "template_rss_mib": memory["template_rss_mib"],
        "executor_rss_mib": memory["executor_rss_mib"],
    }
    summary["ratio_fork_over_inprocess"] = summary["fork_p50_ms"] / summary["inprocess_p50_ms"]
    summary["ratio_spawn_over_fork"] = summary["spawn_p50_ms"] / summary["fork_p50_ms"]
    summary["ratio_sandbox_over_fork"] = summary["fork_sandbox_p50_ms"] / summary["fork_p50_ms"]
    summary["ratio_fork_sandbox_over_peer_throughput_c2"] = (
        summary["fork_sandbox_throughput_c2"] / summary["peer_pool_throughput_c2"]
    )
    summary["ratio_fork_over_peer_throughput_c2"] = (
        summary["fork_throughput_c2"] / summary["peer_pool_throughput_c2"]
    )
    summary["ratio_fork_sandbox_over_peer_no_preload_throughput_c2"] = (
        summary["fork_sandbox_throughput_c2"] / summary["peer_pool_no_preload_throughput_c2"]
    )

    table = render(rows, memory, summary, quick, args.pace, envs, sleepers)
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in summary.items()}))
    else:
        print(table)
    if args.output:
        record.rewrite(args.output, table)
    return 0


def render(
    rows: dict[str, dict[str, Any]],
    memory: dict[str, Any],
    summary: dict[str, float],
    quick: bool,
    pace: float,
    envs: dict[str, float],
    sleepers: dict[str, float],
) -> str:
    today = datetime.date.today().isoformat()
    out = [
        "# Benchmarks: the cost of running each action in its own process",
        "",
        f"Measured {today} on {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{'--quick' if quick else 'full'} run of `.venv/bin/python benchmarks/run.py`. "
        "All modes side by side in one run; the machine is shared, so compare "
        "ratios, not absolute numbers across runs.",
        "",
        f"Latency: sequential, one request every {pace:g} ms (open-loop, as "
        "[floors.md](floors.md)), and back to back (closed loop). "
        "Throughput: std.noop, closed loop.",
        "",
        "| mode | noop p50 ms | noop p99 ms | echo p50 ms | echo p99 ms "
        "| noop back-to-back p50 / p99 ms | actions/s c=1 | c=2 | c=8 | c=64 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(r: dict[str, Any], key: str, digits: int = 3) -> str:
        return f"{r[key]:.{digits}f}" if key in r else "-"

    for mode, r in rows.items():
        out.append(
            f"| {mode} | {cell(r, 'std.noop p50')} | {cell(r, 'std.noop p99')} "
            f"| {cell(r, 'std.echo p50')} | {cell(r, 'std.echo p99')} "
            f"| {cell(r, 'std.noop b2b p50')} / {cell(r, 'std.noop b2b p99')} "
            f"| {cell(r, 'c1', 0)} | {cell(r, 'c2', 0)} | {cell(r, 'c8', 0)} "
            f"| {cell(r, 'c64', 0)} |"
        )
    out += [
        "",
        "fork: without the sandbox; fork+sandbox: the default `SandboxPolicy` (with "
        "its cgroup per action: memory, pids, CPU weight); fork+sandbox, no cgroup: the "
        "same without the cgroup limits, so the difference is what they cost; peer: "
        "`ProcessPoolExecutor(max_workers=2, max_tasks_per_child=1)` with forkserver "
        "running the same no-op (std.noop only), its fork server preloading the "
        "executor's modules; peer (no preload): the same pool as a user gets it, each "
        "task importing its module anew. '-': not measured in this run "
        "(--quick measures fork+sandbox on std.noop paced, back to back and at c=2 and "
        "c=64 only).",
        "",
        "| std.echo payload, paced 5 ms: p50 / p99 ms | 1 KiB | 100 KiB | 1 MiB |",
        "|---|---|---|---|",
    ]
    for mode, r in rows.items():
        if f"echo {PAYLOADS[0]}" in r:
            cells = " | ".join("{:.3f} / {:.3f}".format(*r[f"echo {size}"]) for size in PAYLOADS)
            out.append(f"| {mode} | {cells} |")
    out += [
        "",
        "| CPU ms per action at c=2 | executor | template | child | total |",
        "|---|---|---|---|---|",
    ]
    for mode, r in rows.items():
        if "cpu" in r:
            cpu = r["cpu"]
            out.append(
                f"| {mode} | {cpu['executor']:.2f} | {cpu['template']:.2f} "
                f"| {cpu['child']:.2f} | {sum(cpu.values()):.2f} |"
            )
    out += [
        "",
        "| page faults per action (minor, the forked child) | count |",
        "|---|---|",
    ]
    for mode, r in rows.items():
        if "minflt" in r:
            out.append(f"| {mode} | {r['minflt']:.0f} |")
    out += [
        "",
        "| memory | MiB |",
        "|---|---|",
        f"| executor RSS | {memory['executor_rss_mib']:.1f} |",
        f"| template RSS | {memory['template_rss_mib']:.1f} |",
        f"| PSS per concurrently running child (mean of {memory['children_sampled']}) "
        f"| {memory['child_pss_mib']:.2f} |",
        f"| {envs['environments']:.0f} environments, each a template and its spares: "
        f"PSS of all {envs['processes']:.0f} processes | {envs['pss_total_mib']:.1f} |",
        f"| the same: mean template RSS | {envs['template_rss_mean_mib']:.1f} |",
        "",
        f"{sleepers['count']:.0f} `std.sleep seconds={sleepers['seconds']:.0f}` started at "
        "once from one executor (default sandbox), and 100 std.echo run one after another "
        "while they sleep:",
        "",
        "| many at once | value |",
        "|---|---|",
        f"| succeeded | {sleepers['succeeded']:.0f} of {sleepers['count']:.0f} |",
        f"| running at once when measured | {sleepers['running_at_peak']:.0f} |",
        f"| seconds until all had started | {sleepers['start_all_s']:.1f} |",
        f"| PSS of all processes (executor, template, children), MiB "
        f"| {sleepers['total_pss_mib']:.0f} |",
        f"| the same per running action, MiB | {sleepers['pss_per_action_mib']:.2f} |",
        f"| of which the executor (with its callers' threads), MiB "
        f"| {sleepers['executor_pss_mib']:.0f} |",
        f"| std.echo meanwhile: p50 / p99 ms | {sleepers['probe_p50_ms']:.2f} / "
        f"{sleepers['probe_p99_ms']:.2f} |",
        "",
        "| ratio (noop p50, paced) | value |",
        "|---|---|",
        f"| fork / in-process | {summary['ratio_fork_over_inprocess']:.1f} |",
        f"| spawn / fork | {summary['ratio_spawn_over_fork']:.0f} |",
        f"| fork+sandbox / fork | {summary['ratio_sandbox_over_fork']:.1f} |",
        "",
        "| ratio (actions/s at concurrency 2) | value |",
        "|---|---|",
        f"| fork / peer | {summary['ratio_fork_over_peer_throughput_c2']:.1f} |",
        f"| fork+sandbox / peer | {summary['ratio_fork_sandbox_over_peer_throughput_c2']:.1f} |",
        "| fork+sandbox / peer (no preload) "
        f"| {summary['ratio_fork_sandbox_over_peer_no_preload_throughput_c2']:.1f} |",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
