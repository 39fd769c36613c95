"""What each mechanism of the sandbox costs, side by side in one run.

    .venv/bin/python benchmarks/sandbox.py [--quick] [--json] [--record]

Every row is an executor of its own (fork launcher, std.noop) whose policy
differs from the default ``SandboxPolicy`` by one mechanism, so each row's
difference from "default" is what that mechanism costs per action: p50 and
p99 latency paced, throughput at concurrency 2, and CPU time per action of
the whole machine (``/proc/stat``: executor, templates, children and the
kernel's work on namespaces). A second table splits a child's entry into
its sandbox by step (``action_host.sandbox.steps``, as the child timed
them; a spare child pays them before its request). A last table runs std.echo while two actions
keep both CPUs busy, with and without the per-action CPU share (cgroup
``cpu.weight``), against an idle machine.

Run it on a quiet machine (root: the default sandbox needs it, or the
service user of docs/deploy-mistral.md); the numbers of one run compare with
each other, not with another machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import record  # noqa: E402  (benchmarks/record.py, next to this script)

from executor import Executor, ExecutorConfig  # noqa: E402
from executor.sandbox.model import SandboxPolicy  # noqa: E402

DEFAULT = SandboxPolicy()
#: row -> the policy that differs from the default by one mechanism
VARIANTS: dict[str, SandboxPolicy] = {
    "no sandbox": SandboxPolicy(enabled=False),
    "default": DEFAULT,
    "- cgroup limits (memory, CPU, pids)": SandboxPolicy(
        memory_limit=None, cpu_weight=None, cpu_max=None
    ),
    "- uid per action": SandboxPolicy(per_action_uid=False),
    "- private file system": SandboxPolicy(private_filesystem=False),
    "- pid namespace": SandboxPolicy(pid_namespace=False),
    "- seccomp": SandboxPolicy(seccomp=False),
    "- Landlock": SandboxPolicy(landlock=False),
    "network none (a netns per action)": SandboxPolicy(network="none"),
    "network host (no egress hooks)": SandboxPolicy(network="host"),
    "+ cpu_max 1.0": SandboxPolicy(cpu_max=1.0),
}


def _cpu_ticks() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    busy = [int(x) for i, x in enumerate(fields) if i not in (3, 4)]  # not idle, iowait
    return sum(busy)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(executor: Executor, n_paced: int, n_tp: int, pace: float) -> dict[str, float]:
    for _ in range(5):  # warm: template, spares, preload
        warm = executor.run("std.noop", timeout=30)
        if not warm.is_success():
            raise RuntimeError(warm.error)
    time.sleep(0.3)
    samples = []
    for _ in range(n_paced):
        started = time.perf_counter()
        result = executor.run("std.noop")
        samples.append(time.perf_counter() - started)
        if not result.is_success():
            raise RuntimeError(result.error)
        time.sleep(pace)
    time.sleep(0.3)
    ticks = _cpu_ticks()
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: executor.run("std.noop"), range(n_tp)))
    elapsed = time.perf_counter() - started
    time.sleep(0.5)  # teardown of the last children counts too
    cpu_ms = (_cpu_ticks() - ticks) * 1000 / os.sysconf("SC_CLK_TCK") / n_tp
    failed = [r.error for r in results if not r.is_success()]
    if failed:
        raise RuntimeError(failed[0])
    return {
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "c2_per_s": n_tp / elapsed,
        "cpu_ms_per_action": cpu_ms,
    }


def contention(state_dir: str, policy: SandboxPolicy, n: int, busy: bool) -> float:
    """std.echo p50 (ms) while two actions spin (``busy``) or the machine idles."""
    config = ExecutorConfig(
        state_dir=state_dir, sandbox=policy, max_concurrency=8, close_timeout=0.5
    )
    with Executor(config) as executor:
        for _ in range(5):
            executor.run("std.echo", {"output": 1})
        spinners = []
        if busy:
            code = "while (true) {}"
            for _ in range(2):
                spinners.append(
                    threading.Thread(
                        target=executor.run,
                        args=("std.javascript", {"script": code}),
                        kwargs={"timeout": 600},
                        daemon=True,
                    )
                )
            for thread in spinners:
                thread.start()
            time.sleep(1.0)
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            executor.run("std.echo", {"output": 1})
            samples.append(time.perf_counter() - started)
            time.sleep(0.01)
    return statistics.median(samples) * 1000


STEPS_ACTION = """
from actions_api import Action


class SandboxSteps(Action):
    def run(self, context):
        from action_host.sandbox import ENTERED

        return [[step, seconds] for step, seconds in ENTERED.items()]
"""


def _steps_site(root: str) -> str:
    """A plugin site whose one action returns its host's sandbox step timings,
    readable by the sandbox's unprivileged uids."""
    site = os.path.join(root, "site")
    info = os.path.join(site, "bench_steps-1.0.dist-info")
    os.makedirs(info)
    files = {
        os.path.join(site, "bench_steps.py"): STEPS_ACTION,
        os.path.join(info, "METADATA"): "Metadata-Version: 2.1\nName: bench-steps\nVersion: 1.0\n",
        os.path.join(info, "entry_points.txt"): (
            "[mistral.actions]\nbench.sandbox_steps = bench_steps:SandboxSteps\n"
        ),
    }
    for path, text in files.items():
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    for path in (root, site, info):
        os.chmod(path, 0o755)
    return site


def steps(state_dir: str, n: int) -> dict[str, float]:
    """Median microseconds per step of a child's entry into the default sandbox."""
    per_step: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-steps-") as root:
        site = _steps_site(root)
        config = ExecutorConfig(state_dir=state_dir, sandbox=DEFAULT, extra_paths=(site,))
        with Executor(config) as executor:
            for _ in range(n):
                result = executor.run("bench.sandbox_steps", timeout=30)
                if not result.is_success():
                    raise RuntimeError(result.error)
                for step, seconds in result.data:
                    per_step.setdefault(step, []).append(seconds * 1e6)
    return {step: statistics.median(values) for step, values in per_step.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about a minute)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--record", action="store_true", help="also write the tables into docs/benchmarks.md"
    )
    args = parser.parse_args()
    n_paced, n_tp, n_echo = (150, 300, 60) if args.quick else (600, 1200, 200)
    rows: dict[str, dict[str, float]] = {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as state_dir:
        for name, policy in VARIANTS.items():
            print(f"[{time.monotonic() - began:5.1f} s] {name}", file=sys.stderr, flush=True)
            config = ExecutorConfig(
                state_dir=state_dir, sandbox=policy, max_concurrency=8, template_fork_timeout=5
            )
            with Executor(config) as executor:
                try:
                    rows[name] = measure(executor, n_paced, n_tp, 0.005)
                except RuntimeError as exc:  # e.g. no view: the interpreter unreachable
                    print(f"  {name}: not measured: {exc}", file=sys.stderr)
        print(f"[{time.monotonic() - began:5.1f} s] sandbox steps", file=sys.stderr)
        step_us = steps(state_dir, n_echo)
        shares = {}
        for label, policy, busy in (
            ("idle machine", DEFAULT, False),
            ("2 busy actions, cpu.weight per action", DEFAULT, True),
            (
                "2 busy actions, no cgroup CPU share",
                VARIANTS["- cgroup limits (memory, CPU, pids)"],
                True,
            ),
        ):
            print(f"[{time.monotonic() - began:5.1f} s] std.echo: {label}", file=sys.stderr)
            shares[label] = contention(state_dir, policy, n_echo, busy)
    if args.json:
        print(
            json.dumps(
                {"mechanisms": rows, "sandbox_steps_us": step_us, "contention_echo_p50_ms": shares},
                indent=2,
            )
        )
        return 0
    print(markdown(rows, step_us, shares))
    if args.record:
        command = " ".join(["benchmarks/sandbox.py", *sys.argv[1:]])
        record.record("sandbox", section(markdown(rows, step_us, shares), command))
    return 0


def markdown(
    rows: dict[str, dict[str, float]], step_us: dict[str, float], shares: dict[str, float]
) -> str:
    """The three tables."""
    base = rows["default"]
    lines = [
        "| policy | p50 ms | p99 ms | actions/s at c=2 | CPU ms per action |",
        "|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        if name not in rows:
            lines.append(f"| {name} | not measured here (see stderr) | | | |")
            continue
        row = rows[name]
        delta = "" if name == "default" else f" ({row['p50_ms'] - base['p50_ms']:+.3f})"
        lines.append(
            f"| {name} | {row['p50_ms']:.3f}{delta} | {row['p99_ms']:.3f} | "
            f"{row['c2_per_s']:.0f} | {row['cpu_ms_per_action']:.2f} |"
        )
    lines += ["", "| a child's sandbox step (default policy) | median µs |", "|---|---|"]
    lines += [f"| {step} | {us:.0f} |" for step, us in step_us.items()]
    lines += [f"| total | {sum(step_us.values()):.0f} |", ""]
    lines += ["| std.echo p50 while | ms |", "|---|---|"]
    lines += [f"| {label} | {value:.2f} |" for label, value in shares.items()]
    return "\n".join(lines)


def section(tables: str, command: str) -> str:
    """docs/benchmarks.md's section of this script."""
    return "\n".join(
        [
            "## The sandbox, mechanism by mechanism",
            "",
            f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, `{command}`: an "
            "executor per policy that differs from the default `SandboxPolicy` by one mechanism "
            "(fork launcher, std.noop, paced one request every 5 ms for the latencies), side by "
            "side in one run; the difference in brackets is from the default row. Then a "
            "child's entry into the default sandbox, step by step as the child timed it (a spare "
            "child pays it before its request), and std.echo's p50 while two actions keep both "
            "CPUs busy, with and without a `cpu.weight` per action.",
            "",
            tables,
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
