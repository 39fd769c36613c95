"""Load and chaos: many actions, some crashing, hanging or leaving daemons.

    .venv/bin/python benchmarks/soak.py                 # 10,000 actions at concurrency 8
    .venv/bin/python benchmarks/soak.py --actions 500   # the CI-sized run (tests/test_soak.py)

5% of the actions misbehave, in equal parts: one crashes its host (SIGSEGV
of the interpreter), one hangs past its timeout, one starts a daemon
(``setsid``) and returns. Afterwards it checks, and prints, the promise:
one result per request and no duplicates, every outcome the right one, the
executor's RSS grew by less than 20 MiB, its descriptors are back to the
baseline within 5 s, and no daemon, zombie or working directory is left.
Exit code 0 when every check holds.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from executor import Executor, ExecutorConfig  # noqa: E402

PLUGIN = """
import ctypes, os, subprocess, sys, time
from actions_api import Action

class Ok(Action):
    def __init__(self, n):
        self.n = n
    def run(self, context):
        return self.n

class Crash(Action):
    def run(self, context):
        ctypes.string_at(0)

class Hang(Action):
    def run(self, context):
        time.sleep(600)

class Daemon(Action):
    def __init__(self, marker):
        self.marker = marker
    def run(self, context):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", self.marker],
                         start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return "left a daemon"
"""
ENTRY_POINTS = {
    "soak.ok": "soak_actions:Ok",
    "soak.crash": "soak_actions:Crash",
    "soak.hang": "soak_actions:Hang",
    "soak.daemon": "soak_actions:Daemon",
}


def make_plugin(site: str) -> None:
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "soak_actions.py"), "w") as f:
        f.write(PLUGIN)
    info = os.path.join(site, "soak_actions-1.0.dist-info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: soak-actions\nVersion: 1.0\n")
    with open(os.path.join(info, "entry_points.txt"), "w") as f:
        f.write("[mistral.actions]\n" + "".join(f"{k} = {v}\n" for k, v in ENTRY_POINTS.items()))


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def zombie_children() -> list[int]:
    me = os.getpid()
    zombies = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == me:
                zombies.append(int(name))
    return zombies


@dataclass
class Report:
    requests: int
    results: int = 0
    wrong: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rss_growth_mib: float = 0.0
    fds_over_baseline: int = 0
    daemons_left: int = 0
    zombies_left: int = 0
    workdirs_left: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def checks(self) -> dict[str, bool]:
        return {
            "one result per request": self.results == self.requests,
            "every outcome correct": not self.wrong,
            "executor RSS growth < 20 MiB": self.rss_growth_mib < 20,
            "descriptors back to the baseline": self.fds_over_baseline <= 0,
            "no daemon left": self.daemons_left == 0,
            "no zombie left": self.zombies_left == 0,
            "no working directory left": self.workdirs_left == 0,
        }


def plan(n: int, marker: str, seed: int) -> list[tuple[str, dict[str, Any], str]]:
    """(action, params, expected kind) per request: 95% ok, 5% misbehaving."""
    rng = random.Random(seed)
    jobs: list[tuple[str, dict[str, Any], str]] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.05 / 3:
            jobs.append(("soak.crash", {}, "HostCrashed"))
        elif roll < 0.10 / 3:
            jobs.append(("soak.hang", {}, "Timeout"))
        elif roll < 0.05:
            jobs.append(("soak.daemon", {"marker": marker}, "ok"))
        else:
            jobs.append(("soak.ok", {"n": i}, "ok"))
    return jobs


def soak(actions: int, concurrency: int, seed: int = 1, progress: bool = True) -> Report:
    marker = f"soak-daemon-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        site = os.path.join(tmp, "site")
        make_plugin(site)
        config = ExecutorConfig(
            state_dir=os.path.join(tmp, "state"),
            extra_paths=(site,),
            max_concurrency=concurrency,
            cancel_grace=0.1,
        )
        jobs = plan(actions, marker, seed)
        report = Report(requests=len(jobs))
        with Executor(config) as ex:
            # Warm up at full concurrency, every path once (template, spares, index,
            # the pool's threads and their malloc arenas): growth is measured
            # from a steady state, not from an executor that never ran anything.
            warm = [("soak.ok", {"n": -1})] * 500 + [("soak.crash", {}), ("soak.hang", {})] * 4
            pool = ThreadPoolExecutor(concurrency)  # the same threads warm up and run
            list(pool.map(lambda job: ex.run(*job, timeout=0.5), warm))
            gc.collect()
            time.sleep(0.5)
            rss0, fds0 = rss_mib(), fd_count()
            started = time.monotonic()
            done = [0]

            def one(i: int) -> tuple[int, str, bool]:
                """Run request ``i``; keep only its verdict (the executor's memory
                is measured, not this script's pile of Results)."""
                name, params, _ = jobs[i]
                result = ex.run(name, params, timeout=0.5 if name == "soak.hang" else 30)
                done[0] += 1
                if progress and done[0] % 1000 == 0:
                    print(f"  {done[0]}/{len(jobs)}", file=sys.stderr, flush=True)
                got = "ok" if result.is_success() else str(result.error_type)
                return i, got, name != "soak.ok" or result.data == params["n"]

            with pool:
                verdicts = list(pool.map(one, range(len(jobs))))
            report.seconds = time.monotonic() - started
            report.results = len({i for i, _, _ in verdicts})
            for i, got, data_ok in verdicts:
                name, _params, expected = jobs[i]
                report.kinds[got] = report.kinds.get(got, 0) + 1
                if got != expected or not data_ok:
                    report.wrong.append(f"#{i} {name}: expected {expected}, got {got}")
            gc.collect()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and fd_count() > fds0:
                time.sleep(0.1)
            report.fds_over_baseline = fd_count() - fds0
            report.rss_growth_mib = rss_mib() - rss0
            work = ex.layout.work
        time.sleep(0.5)
        report.daemons_left = len(processes_with(marker))
        report.zombies_left = len(zombie_children())
        report.workdirs_left = len(os.listdir(work)) if os.path.isdir(work) else 0
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    logging.getLogger("action").setLevel(logging.ERROR)  # actions' own warnings
    report = soak(args.actions, args.concurrency, args.seed)
    if args.json:
        print(json.dumps({**report.__dict__, "checks": report.checks()}, indent=2))
    else:
        print("| measure | value |\n|---|---|")
        print(f"| requests / results | {report.requests} / {report.results} |")
        print(f"| outcomes | {', '.join(f'{k} {v}' for k, v in sorted(report.kinds.items()))} |")
        print(f"| wall time | {report.seconds:.1f} s ({report.requests / report.seconds:.0f}/s) |")
        print(f"| executor RSS growth | {report.rss_growth_mib:.1f} MiB |")
        print(f"| descriptors over baseline after 5 s | {report.fds_over_baseline} |")
        print(
            f"| daemons / zombies / workdirs left | {report.daemons_left} / "
            f"{report.zombies_left} / {report.workdirs_left} |"
        )
        for check, ok in report.checks().items():
            print(f"| {check} | {'yes' if ok else 'NO'} |")
        for line in report.wrong[:20]:
            print(line)
    return 0 if all(report.checks().values()) else 1


if __name__ == "__main__":
    sys.exit(main())
