"""The sandbox promise (docs/security.md), one escape per test, on both launchers,
in the deployments operators run: as root, as the service user of our
systemd unit (with the capabilities it grants, in a delegated cgroup), and
as a plain user with no capability (rootless).

Each test runs an action from ``testplugins_attacks`` that tries the escape
and asserts that it failed. The executors use the default ``SandboxPolicy``
(``egress`` network) unless a test says otherwise, lowered only where a
deployment cannot have a mechanism on this machine (``sandbox_support``
says which, and other tests prove the executor refuses without that);
RabbitMQ, PostgreSQL and Redis listen on this machine's loopback. Nothing
here is skipped: a missing mechanism fails its tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import install_plugin
from netns import CLOUD_ADDR, HOST_ADDR, METADATA_ADDR, TestNetwork
from remote import RemoteExecutor, RemoteRefused
from sandbox_support import (
    DEPLOYMENTS,
    UserExecutor,
    deployed,
    env_cli,
    executor_pid,
    lowered_here,
    owned_state_dir,
    readable_plugins,
)

from action_host.sandbox import STEPS
from executor import ExecutorConfig


@pytest.fixture(scope="module", autouse=True)
def readable_site(plugin_site: Path) -> None:
    """pytest makes its directories 0700; an installed environment is world-readable."""
    plugin_site.chmod(0o755)


CASES = [(kind, launcher) for kind in DEPLOYMENTS for launcher in ("fork", "spawn")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{k}-{launcher}" for k, launcher in CASES])
def sandboxed(request, plugin_site: Path, tmp_path_factory):
    kind, launcher = request.param
    ex = deployed(kind, launcher, str(plugin_site), tmp_path_factory.mktemp("sandbox-state"))
    yield ex
    ex.close()


@pytest.fixture
def make(plugin_site: Path, tmp_path: Path):
    """``make(launcher, kind=..., **policy)``: an executor of that deployment."""
    made = []

    def build(launcher: str = "fork", kind: str = "root", config=None, **policy):
        state = tmp_path / f"state-{len(made)}"
        ex = deployed(kind, launcher, str(plugin_site), state, config=config, **policy)
        made.append(ex)
        return ex

    yield build
    for ex in made:
        ex.close()


def _data(result):
    assert result.is_success(), result.error
    return result.data


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _wait_gone(marker: str, seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# -- 1. identity ---------------------------------------------------------------


def _outside_ids(executor, count: int = 1) -> list[tuple[int, int]]:
    """The (uid, gid) the machine sees for ``count`` actions running at once."""
    marker = f"whoami-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(count) as pool:
        runs = [
            pool.submit(executor.run, "attack.whoami", {"marker": f"{marker}-{i}", "hold": 1.5})
            for i in range(count)
        ]
        seen: dict[int, tuple[int, int]] = {}
        deadline = time.monotonic() + 20
        while len(seen) < count and time.monotonic() < deadline:
            for i in range(count):
                for pid in _processes_with(f"{marker}-{i}"):
                    seen[i] = _ids_of(pid)
            time.sleep(0.02)
        for run in runs:
            _data(run.result())
    return [seen[i] for i in range(count)]


def _ids_of(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def test_an_action_runs_as_an_unprivileged_uid_of_its_own(sandboxed):
    (first, second) = _outside_ids(sandboxed, 2)
    assert first[0] >= 200000 and second[0] >= 200000
    assert first[0] != second[0] and first[0] != os.getuid()
    assert first[1] != os.getgid()


def test_a_host_enters_its_sandbox_in_named_steps_each_timed(sandboxed):
    result = sandboxed.run("test.sandbox_steps", {})
    assert result.is_success(), result.error
    steps = [name for name, _seconds in result.data]
    assert steps == [step.__name__ for step in STEPS]
    assert all(0 <= seconds < 5 for _name, seconds in result.data)


# -- 2. file system ---------------------------------------------------------------


@pytest.mark.parametrize("what", ["mem", "environ"])
def test_the_executors_memory_and_environment_are_out_of_reach(sandboxed, what):
    path = f"/proc/{executor_pid(sandboxed)}/{what}"
    attempt = _data(sandboxed.run("attack.read", {"path": path}))
    assert attempt["ok"] is False


def test_etc_shadow_cannot_be_read(sandboxed):
    assert _data(sandboxed.run("attack.read", {"path": "/etc/shadow"}))["ok"] is False


def test_the_state_dir_is_hidden(sandboxed):
    state = sandboxed.config.state_dir
    attempt = _data(sandboxed.run("attack.read", {"path": state}))
    assert not attempt["ok"] or attempt["value"] == [] or set(attempt["value"]) <= {"envs"}
    assert _data(sandboxed.run("attack.read", {"path": os.path.join(state, "work")}))["ok"] is False


def test_home_directories_are_hidden(sandboxed):
    attempt = _data(sandboxed.run("attack.read", {"path": "/root"}))
    assert not attempt["ok"] or attempt["value"] in ([], [".pyenv"])


def test_another_environments_site_packages_can_be_neither_read_nor_planted(sandboxed, tmp_path):
    other = Path(sandboxed.config.state_dir) / "envs" / ".versions" / "other-1" / "site-packages"
    other.mkdir(parents=True, exist_ok=True)
    (other / "secret_plugin.py").write_text("TOKEN = 'x'\n")
    assert (
        _data(sandboxed.run("attack.read", {"path": str(other / "secret_plugin.py")}))["ok"]
        is False
    )
    planted = other / "evil.pth"
    assert _data(sandboxed.run("attack.write", {"path": str(planted)}))["ok"] is False
    assert not planted.exists()


def test_its_own_environment_is_read_only(sandboxed, plugin_site):
    if isinstance(sandboxed, UserExecutor):  # its copy of the plugins
        plugin_site = Path(readable_plugins(str(plugin_site)))
    target = plugin_site / "evil.pth"
    assert _data(sandboxed.run("attack.write", {"path": str(target)}))["ok"] is False
    assert not target.exists()
    seen = _data(sandboxed.run("attack.read", {"path": str(plugin_site)}))
    assert seen["ok"] is True, seen


@pytest.mark.parametrize("path", ["/etc/evil", "/usr/evil", "/var/tmp/evil"])
def test_nothing_outside_its_workdir_and_tmp_is_writable(sandboxed, path):
    assert _data(sandboxed.run("attack.write", {"path": path}))["ok"] is False
    assert not os.path.exists(path)


def test_its_workdir_and_tmp_are_writable_and_private(sandboxed):
    me = _data(sandboxed.run("attack.whoami", {"plant": "planted.txt"}))
    assert me["cwd"] == "/tmp/work"
    assert not os.path.exists("/tmp/planted.txt")


def test_a_file_in_tmp_does_not_survive_the_run(sandboxed):
    marker = f"left-{uuid.uuid4().hex}"
    _data(sandboxed.run("attack.whoami", {"plant": marker}))
    assert marker not in _data(sandboxed.run("attack.whoami"))["tmp"]


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_disk_use_is_bounded_by_the_private_tmp(make, kind):
    ex = make(kind=kind, tmpfs_size=4 * 1024**2)
    big = "x" * (8 * 1024**2)
    attempt = _data(ex.run("attack.write", {"path": "/tmp/work/big", "text": big}))
    assert attempt["ok"] is False and "No space left" in attempt["error"]


def test_another_running_actions_memory_and_workdir_are_out_of_reach(sandboxed):
    secret = f"s3cret-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(sandboxed.run, "attack.hold_secret", {"secret": secret, "seconds": 2})
        time.sleep(0.8)
        seen = _data(sandboxed.run("attack.processes", {"needle": secret}))
        assert holder.result().is_success()
    assert seen["pids"] == [1] and seen["found"] == []
    work = _data(sandboxed.run("attack.read", {"path": "/tmp/work"}))
    assert "secret.txt" not in work["value"]


# -- 3. processes ------------------------------------------------------------------


def test_an_action_sees_no_other_process(sandboxed):
    assert _data(sandboxed.run("attack.processes"))["pids"] == [1]


def test_kill_minus_one_and_kill_of_the_executor_do_nothing_outside(sandboxed):
    assert _data(sandboxed.run("attack.kill", {"pid": executor_pid(sandboxed)}))["ok"] is False
    _data(sandboxed.run("attack.kill", {"pid": -1}))
    assert sandboxed.run("std.echo", {"output": "alive"}).data == "alive"


@pytest.mark.parametrize("how", ["setsid", "setpgid"])
def test_what_an_action_leaves_behind_dies_when_it_completes(sandboxed, how):
    marker = f"daemon-{uuid.uuid4().hex}"
    _data(sandboxed.run("attack.daemon", {"marker": marker, "how": how}))
    assert _wait_gone(marker) == []


@pytest.mark.parametrize("how", ["setsid", "setpgid"])
def test_what_an_action_leaves_behind_dies_when_it_times_out(sandboxed, how):
    marker = f"daemon-{uuid.uuid4().hex}"
    result = sandboxed.run(
        "attack.daemon", {"marker": marker, "how": how, "hang": True}, timeout=1.5
    )
    assert result.error_type == "Timeout"
    assert _wait_gone(marker) == []


@pytest.mark.parametrize("kind", DEPLOYMENTS)
@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_what_an_action_leaves_behind_dies_with_a_closed_executor(make, launcher, kind):
    ex = make(launcher, kind=kind, config={"close_timeout": 1.0})
    marker = f"daemon-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(ex.run, "attack.daemon", {"marker": marker, "hang": True})
        deadline = time.monotonic() + 30
        while not _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(marker)
        ex.close()
    assert _wait_gone(marker) == []


@pytest.mark.parametrize("kind", DEPLOYMENTS)
@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_what_an_action_leaves_behind_dies_with_a_killed_executor(
    plugin_site, tmp_path, launcher, kind
):
    ex = deployed(kind, launcher, str(plugin_site), tmp_path, remote=True)
    marker = f"daemon-{uuid.uuid4().hex}"
    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(ex.run, "attack.daemon", {"marker": marker, "hang": True})
            deadline = time.monotonic() + 60
            while not _processes_with(marker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _processes_with(marker)
            ex.kill()  # SIGKILL: no chance to clean up
    finally:
        ex.close()
    assert _wait_gone(marker) == []


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_a_fork_bomb_hits_its_own_limit_while_16_other_actions_succeed(make, kind):
    ex = make(kind=kind, max_processes=64)
    with ThreadPoolExecutor(17) as pool:
        bomb = pool.submit(ex.run, "attack.fork_bomb", {"count": 2000}, timeout=60)
        others = [pool.submit(ex.run, "std.echo", {"output": i}, timeout=60) for i in range(16)]
        outcome = _data(bomb.result())
        assert [f.result().data for f in others] == list(range(16))
    assert outcome["forked"] < 64 and outcome["failed"] >= 2000 - 64


# -- 4. network ---------------------------------------------------------------------


LOOPBACK_CASES = [("none", k) for k in DEPLOYMENTS] + [("egress", k) for k in ("root", "service")]


@pytest.mark.parametrize(("network", "kind"), LOOPBACK_CASES)
def test_the_hosts_loopback_services_are_out_of_reach(make, network, kind):
    ex = make(kind=kind, network=network)
    for port in (5672, 5432, 6379):  # RabbitMQ, PostgreSQL, Redis
        attempt = _data(ex.run("attack.connect", {"host": "127.0.0.1", "port": port}))
        assert attempt["ok"] is False, port


@pytest.mark.parametrize("kind", ["root", "service"])
def test_egress_refuses_ipv6_and_mapped_loopback_too(make, kind):
    ex = make(kind=kind, network="egress")
    for host in ("::1", "::ffff:127.0.0.1", "0.0.0.0"):
        assert _data(ex.run("attack.connect", {"host": host, "port": 5672}))["ok"] is False


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_the_host_policy_keeps_the_hosts_network(make, kind):
    ex = make(kind=kind, network="host")
    assert _data(ex.run("attack.connect", {"host": "127.0.0.1", "port": 5672}))["ok"] is True


# -- 5. system calls ---------------------------------------------------------------------


def test_system_calls_no_action_needs_are_refused(sandboxed):
    code = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True);"
        "print(libc.unshare(0x00020000), ctypes.get_errno(), libc.ptrace(0, 0, 0, 0))"
    )
    result = _data(sandboxed.run("std.echo", {"output": "x"}))
    assert result == "x"
    # run the probe as the action itself would, through a subprocess it starts
    out = _data(sandboxed.run("attack.read", {"path": "/proc/self/status", "size": 4096}))
    status = out["value"]
    assert "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status
    assert code  # documented probe


# -- 6. secrets -----------------------------------------------------------------------------


def test_a_token_is_in_no_process_cmdline_or_environ(sandboxed):
    token = f"gAAAA-{uuid.uuid4().hex}"
    context = {"security": {"auth_token": token}}
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            sandboxed.run, "attack.hold_secret", {"secret": "x", "seconds": 1.5}, context=context
        )
        time.sleep(0.7)
        leaked = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                for name in ("cmdline", "environ"):
                    try:
                        with open(f"/proc/{entry}/{name}", "rb") as f:
                            if token.encode() in f.read():
                                leaked.append(f"{entry}/{name}")
                    except OSError:
                        pass
        assert running.result().is_success()
    assert leaked == []


# -- plugin code runs in a sandbox on every path (import time included) -------------------

IMPORTTIME = "attack.import_report"


@pytest.fixture(scope="module")
def importtime_site(tmp_path_factory) -> Path:
    source = (Path(__file__).parent / "plugins" / "testplugins_importtime.py").read_text()
    return install_plugin(
        tmp_path_factory.mktemp("importtime-site"),
        "testplugins-importtime",
        "1.0",
        {"testplugins_importtime": source},
        {IMPORTTIME: "testplugins_importtime:ImportReport"},
    )


def _assert_unprivileged(report: dict, executor_pid: int) -> None:
    """What import-time code found: no capability outside a user namespace of
    its own, seccomp on, nothing of the executor's, no way back out."""
    executor_userns = os.readlink(f"/proc/{executor_pid}/ns/user")
    assert report["cap_eff"] == 0 or report["userns"] != executor_userns, report
    assert report["seccomp"] == "2" and report["no_new_privs"] == "1", report
    assert report["mntns"] != os.readlink(f"/proc/{executor_pid}/ns/mnt")
    with open(f"/proc/{executor_pid}/cgroup") as f:
        assert report["cgroup"] != f.read()
    attempts = ["setns", "undo_view", "root_cgroup", "broker", "plant", "parent_memory"]
    if report["netns"] == os.readlink(f"/proc/{executor_pid}/ns/net"):  # the host's network
        attempts += ["listen", "squat"]  # never a server on it, nor a name of its
    for attempt in attempts:
        assert report[attempt]["ok"] is False, (attempt, report[attempt])
    assert not os.path.exists("/var/tmp/planted-at-import")


def _importing(kind, tmp_path, site, launcher="fork", preload="used"):
    return deployed(
        kind, launcher, str(site), tmp_path / "state", config={"preload_actions": preload}
    )


def _description(ex, name: str) -> str:
    if isinstance(ex, RemoteExecutor):
        return next(a["description"] for a in ex.actions() if a["name"] == name)
    return next(a.description for a in ex.actions(refresh=True) if a.name == name)


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_import_time_code_run_by_inspect_is_unprivileged(kind, tmp_path, importtime_site):
    ex = _importing(kind, tmp_path, importtime_site)
    try:
        description = _description(ex, IMPORTTIME)
        pid = executor_pid(ex)
        assert description.startswith("import-report "), description
        _assert_unprivileged(json.loads(description.split(" ", 1)[1]), pid)
    finally:
        ex.close()


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_import_time_code_run_by_a_template_that_preloads_used_actions_is_unprivileged(
    kind, tmp_path, importtime_site
):
    ex = _importing(kind, tmp_path, importtime_site, preload="used")
    try:
        deadline = time.monotonic() + 30
        while True:  # the first run imports it in its child; the template then preloads it
            outcome = _data(ex.run(IMPORTTIME))
            preloaded = outcome["imported"]["mntns"] != outcome["running_mntns"]
            if preloaded or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert preloaded, "never preloaded"
        _assert_unprivileged(outcome["imported"], executor_pid(ex))
    finally:
        ex.close()


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_import_time_code_run_by_a_template_that_preloads_all_actions_is_unprivileged(
    kind, tmp_path, importtime_site
):
    ex = _importing(kind, tmp_path, importtime_site, preload="all")
    try:
        outcome = _data(ex.run(IMPORTTIME))
        assert outcome["imported"]["mntns"] != outcome["running_mntns"]  # the template's
        _assert_unprivileged(outcome["imported"], executor_pid(ex))
    finally:
        ex.close()


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_import_time_code_run_by_a_spawned_host_is_unprivileged(kind, tmp_path, importtime_site):
    ex = _importing(kind, tmp_path, importtime_site, launcher="spawn")
    try:
        outcome = _data(ex.run(IMPORTTIME))
        _assert_unprivileged(outcome["imported"], executor_pid(ex))
    finally:
        ex.close()


# -- limits per action: its own cgroup ----------------------------------------------------


#: Where the deployment has cgroup limits on this machine (rootless has none
#: on cgroup v1: ``test_a_rootless_executor_refuses_the_default_policy...``).
WITH_LIMITS = [k for k in DEPLOYMENTS if "memory_limit" not in lowered_here(k)]


#: Every way to take memory on the fork launcher; the spawn launcher shares
#: the cgroup code, so one way proves it there.
MEMORY_BOMBS = [
    *(("fork", how) for how in ("heap", "children", "memfd", "tmpfs")),
    ("spawn", "heap"),
]


@pytest.mark.parametrize("kind", WITH_LIMITS)
@pytest.mark.parametrize(("launcher", "how"), MEMORY_BOMBS)
def test_a_memory_bomb_ends_in_its_own_result_naming_the_limit_and_the_peak(
    make, launcher, how, kind
):
    ex = make(launcher, kind=kind, memory_limit=64 * 1024**2, tmpfs_size=1024**3)
    with ThreadPoolExecutor(2) as pool:
        bomb = pool.submit(ex.run, "attack.memory_bomb", {"how": how, "mib": 256}, timeout=60)
        neighbour = pool.submit(ex.run, "attack.spin", {"seconds": 1.0}, timeout=60)
        result = bomb.result()
        assert neighbour.result().is_success()
    assert result.error_type == "MemoryLimitExceeded", (result.error_type, result.error)
    assert "memory limit of 64.0 MiB" in result.error and "peak" in result.error
    assert result.peak_memory is not None and result.peak_memory <= 80 * 1024**2
    assert ex.run("std.echo", {"output": "alive"}).data == "alive"


@pytest.mark.parametrize("kind", WITH_LIMITS)
def test_a_template_holds_many_more_concurrent_actions_than_its_memory_limit_alone_allows(
    make, kind
):
    """Each live child keeps about 2 MiB of its template's pages charged to the
    template's cgroup (the originals of what the template wrote after forking
    it): 64 at once under a 96 MiB limit is half again what the limit alone
    holds, and the template used to be killed with every child in it."""
    ex = make(kind=kind, memory_limit=96 * 1024**2, config={"max_concurrency": 64})
    assert ex.run("std.sleep", {"seconds": 0}).is_success()  # preloaded: no new template midway
    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda _: ex.run("std.sleep", {"seconds": 3}), range(64)))
    failures = [r.error for r in results if not r.is_success()]
    assert failures == [], failures[0]
    assert ex.run("std.echo", {"output": "alive"}).data == "alive"


def test_every_result_reports_the_actions_peak_memory_and_cpu_time(sandboxed):
    spun = sandboxed.run("attack.spin", {"seconds": 0.3})
    assert spun.is_success(), spun.error
    if isinstance(sandboxed, UserExecutor) and sandboxed.kind == "rootless":
        if "memory_limit" in lowered_here("rootless"):  # a cgroup without memory here
            assert spun.peak_memory is None
            assert spun.cpu_time is not None and 0.05 < spun.cpu_time < 5
            return
    # a forked child shares the template's pages: its own can be a few hundred KiB
    assert spun.peak_memory is not None and 0 < spun.peak_memory < 256 * 1024**2
    assert spun.cpu_time is not None and 0.05 < spun.cpu_time < 5


@pytest.mark.parametrize("kind", WITH_LIMITS)
def test_an_actions_cpu_is_capped_by_cpu_max(make, kind):
    ex = make(kind=kind, cpu_max=0.2)
    spun = ex.run("attack.spin", {"seconds": 1.5})
    assert spun.is_success(), spun.error
    assert spun.cpu_time is not None and spun.cpu_time < 0.6, spun.cpu_time


# -- identities: leased machine-wide, terminals of its own --------------------------------


def _lease(ex) -> tuple[int, int]:
    if isinstance(ex, RemoteExecutor):
        assert ex.lease is not None
        return ex.lease
    lease = ex.sandbox.lease
    assert lease is not None
    return lease.uid, lease.count


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_two_executors_on_one_machine_never_share_an_id(make, kind):
    first, second = make(kind=kind), make(kind=kind)
    (a, a_count), (b, b_count) = _lease(first), _lease(second)
    assert a + a_count <= b or b + b_count <= a  # disjoint blocks
    (uid_a, _), (uid_b, _) = _outside_ids(first)[0], _outside_ids(second)[0]
    assert a <= uid_a < a + a_count and b <= uid_b < b + b_count


def test_an_action_has_terminals_of_its_own(sandboxed):
    seen = _data(sandboxed.run("attack.terminals"))
    assert seen["pts"] == ["ptmx"], seen
    assert seen["open_0"]["ok"] is False


# -- sandbox off: what needs no privilege stays --------------------------------------------


@pytest.mark.parametrize("kind", ["root", "service"])
def test_with_the_sandbox_off_no_new_privs_seccomp_and_landlock_remain(make, kind):
    ex = make(kind=kind, enabled=False)
    status = _data(ex.run("attack.read", {"path": "/proc/self/status", "size": 4096}))["value"]
    assert "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status
    # the executor: not signalled (Landlock's scope), its memory not readable
    assert _data(ex.run("attack.kill", {"pid": executor_pid(ex)}))["ok"] is False
    if kind != "root":  # root's actions are root: nothing but the sandbox stops them
        mem = _data(ex.run("attack.read", {"path": f"/proc/{executor_pid(ex)}/mem"}))
        assert mem["ok"] is False


def test_a_rootless_executor_refuses_the_default_policy_naming_what_lowers_it(
    plugin_site, tmp_path
):
    with pytest.raises(RemoteRefused) as refused:
        deployed("rootless", "fork", str(plugin_site), tmp_path, lowered=False)
    message = str(refused.value)
    assert "executor does not start" in message
    assert "network_egress" in message and "[sandbox] network = none" in message
    if "memory_limit" in lowered_here("rootless"):  # cgroup v1 here
        assert "limits:" in message and "[sandbox] memory_limit = 0" in message


# -- egress: never this host, never the metadata service, never a server -------------------
#
# Only inside network namespaces of the test's own (tests/netns.py): the
# executor's machine holds 10.77.0.1 and loopback services, the cloud holds an
# outside server and a stand-in metadata service at 169.254.169.254.


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    net = TestNetwork.create(tmp_path_factory.mktemp("net"))
    yield net
    net.close()


#: Deployments with the egress hooks (CAP_BPF and CAP_NET_ADMIN).
WITH_EGRESS = ["root", "service"]
NET_CASES = [(kind, launcher) for kind in WITH_EGRESS for launcher in ("fork", "spawn")]


def _remote_in(net, kind, state: Path, site, launcher="fork", config=None, **policy):
    """An executor of deployment ``kind`` inside the test's machine namespace."""
    return deployed(
        kind,
        launcher,
        None if site is None else str(site),
        state,
        prefix=net.exec_prefix(),
        config=config,
        **policy,
    )


@pytest.fixture(
    scope="module", params=NET_CASES, ids=[f"{k}-{launcher}" for k, launcher in NET_CASES]
)
def in_network(request, network, plugin_site, tmp_path_factory):
    kind, launcher = request.param
    ex = _remote_in(network, kind, tmp_path_factory.mktemp("net-state"), plugin_site, launcher)
    yield ex
    ex.close()


def _connect(ex, host: str, port: int) -> dict:
    return _data(ex.run("attack.connect", {"host": host, "port": port}))


def test_egress_reaches_a_machine_outside(in_network, network):
    before = network.reached(f"{CLOUD_ADDR}:8080")
    assert _connect(in_network, CLOUD_ADDR, 8080)["ok"] is True
    assert network.reached_at_least(f"{CLOUD_ADDR}:8080", before + 1) == before + 1


def test_egress_refuses_the_cloud_metadata_service(in_network, network):
    attempt = _connect(in_network, METADATA_ADDR, 80)
    assert attempt["ok"] is False and "not permitted" in attempt["error"]
    assert network.reached(f"{METADATA_ADDR}:80") == 0


@pytest.mark.parametrize("where", [f"{HOST_ADDR}:9000", "127.0.0.1:9001"])
def test_egress_refuses_every_address_of_this_host(in_network, network, where):
    host, port = where.rsplit(":", 1)
    assert _connect(in_network, host, int(port))["ok"] is False
    assert network.reached(where) == 0


def test_egress_follows_a_new_address_of_this_host(in_network, network, request):
    address = f"10.88.0.{1 + NET_CASES.index(request.node.callspec.params['in_network'])}"
    network.add_host_address(address)
    network.serve(network.host, f"{address}:9002")
    time.sleep(1.0)  # the executor hears of it from the kernel (rtnetlink)
    assert _connect(in_network, address, 9002)["ok"] is False
    assert network.reached(f"{address}:9002") == 0


@pytest.mark.parametrize("host", ["0.0.0.0", HOST_ADDR, "127.0.0.1"])
def test_egress_refuses_to_bind_or_listen(in_network, host):
    attempt = _data(in_network.run("attack.serve", {"host": host}))
    assert attempt["bind"]["ok"] is False and attempt["listen"]["ok"] is False, attempt


@pytest.mark.parametrize("where", ["255.255.255.255", "10.77.0.3", "224.0.0.1"])
def test_egress_refuses_broadcast_and_multicast_which_this_host_receives(
    in_network, network, where
):
    before = network.reached("udp:0.0.0.0:9999")
    attempt = _data(in_network.run("attack.datagram", {"host": where, "port": 9999}))
    assert attempt["ok"] is False, attempt
    time.sleep(0.2)
    assert network.reached("udp:0.0.0.0:9999") == before


def test_egress_refuses_to_squat_an_abstract_socket_name(in_network):
    attempt = _data(in_network.run("attack.serve", {"abstract": f"squat-{uuid.uuid4().hex}"}))
    assert attempt["ok"] is False


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_none_has_no_network_but_its_own_loopback(network, plugin_site, tmp_path, kind):
    ex = _remote_in(network, kind, tmp_path, plugin_site, network="none")
    try:
        assert _connect(ex, CLOUD_ADDR, 8080)["ok"] is False
        assert _data(ex.run("attack.serve", {"host": "127.0.0.1"}))["bind"]["ok"] is True
    finally:
        ex.close()


@pytest.mark.parametrize("kind", WITH_EGRESS)
def test_an_environments_deny_list_is_refused_too(network, plugin_site, tmp_path, kind):
    ex = _remote_in(network, kind, tmp_path, plugin_site, egress_deny=(f"{CLOUD_ADDR}/32",))
    try:
        before = network.reached(f"{CLOUD_ADDR}:8080")
        assert _connect(ex, CLOUD_ADDR, 8080)["ok"] is False
        assert network.reached(f"{CLOUD_ADDR}:8080") == before
    finally:
        ex.close()


@pytest.mark.parametrize("kind", WITH_EGRESS)
def test_an_environments_allow_list_is_all_it_reaches(network, plugin_site, tmp_path, kind):
    # 192.0.2.0/24 is not the cloud's network
    ex = _remote_in(network, kind, tmp_path, plugin_site, egress_allow=("192.0.2.0/24",))
    try:
        before = network.reached(f"{CLOUD_ADDR}:8080")
        assert _connect(ex, CLOUD_ADDR, 8080)["ok"] is False
        assert network.reached(f"{CLOUD_ADDR}:8080") == before
    finally:
        ex.close()


# -- a nested run never widens its caller's policy ----------------------------------------


@pytest.mark.parametrize("kind", WITH_EGRESS)
def test_a_nested_run_takes_the_stricter_policy_of_its_caller(network, plugin_site, tmp_path, kind):
    """An environment without network cannot get egress back by calling
    std.http (which lives in an egress environment) through actions_api.utils."""
    site = plugin_site if kind == "root" else Path(readable_plugins(str(plugin_site)))
    state = tmp_path / "state" if kind == "root" else owned_state_dir(kind)
    cli = ["--state-dir", str(state), "env"]
    env_cli(kind, [*cli, "create", "offline"])
    env_cli(kind, [*cli, "set", "offline", f"env.PYTHONPATH={site}"])
    ex = deployed(
        kind,
        "fork",
        None,
        state,
        prefix=network.exec_prefix(),
        config={"sandbox_by_env": {"offline": {"network": "none"}}},
        exact_state=True,
    )
    url = f"http://{CLOUD_ADDR}:8080/"
    try:
        direct = ex.run("std.http", {"url": url})
        nested = _data(
            ex.run("offline:attack.reuse", {"action": "std.http", "params": {"url": url}})
        )
    finally:
        ex.close()
    assert direct.is_success(), direct.error  # std.http's own environment has egress
    assert nested["error"] and nested["data"] is None, nested


# -- docs/security.md names real tests ----------------------------------------------------


def test_every_test_docs_security_md_names_exists():
    """Each promise there names the tests that hold it: they must exist."""
    import re

    text = (Path(__file__).parent.parent / "docs" / "security.md").read_text()
    named = set(re.findall(r"`(test_\w+)`", text))
    defined = set()
    for path in Path(__file__).parent.rglob("test_*.py"):
        defined.update(re.findall(r"^def (test_\w+)\(", path.read_text(), re.M))
    assert len(named) >= 40
    assert sorted(named - defined) == []


# -- a hostile template (found by attacking the sandbox) ---------------------------------


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory) -> Path:
    source = (Path(__file__).parent / "plugins" / "testplugins_hostile_template.py").read_text()
    return install_plugin(
        tmp_path_factory.mktemp("hostile-site"),
        "testplugins-hostile-template",
        "1.0",
        {"testplugins_hostile_template": source},
        {"hostile.noop": "testplugins_hostile_template:Noop"},
    )


def _hostile(kind, tmp_path, site, environ, **policy):
    config = {"preload_actions": "all", "host_environ": environ, "template_fork_timeout": 5}
    return deployed(kind, "fork", str(site), tmp_path / "state", config=config, **policy)


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_a_template_naming_a_stranger_as_its_child_never_gets_it_moved_or_killed(
    kind, tmp_path, hostile_site
):
    victim = subprocess.Popen(["sleep", "300"])
    with open(f"/proc/{victim.pid}/cgroup") as f:
        cgroups_before = f.read()
    ex = _hostile(kind, tmp_path, hostile_site, {"HOSTILE_REPORT_PID": str(victim.pid)})
    try:
        result = ex.run("hostile.noop", timeout=20)
    finally:
        ex.close()
    try:
        # (the last of its attempts says why it gave up: "not its child", or
        # the channel of a template it replaced meanwhile)
        assert result.error_type == "HostStartFailed", (result.error_type, result.error)
        assert victim.poll() is None  # alive
        with open(f"/proc/{victim.pid}/cgroup") as f:
            assert f.read() == cgroups_before  # never moved into an action's cgroup
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.parametrize("kind", WITH_LIMITS)
def test_a_templates_own_memory_is_limited_as_an_actions_is(kind, tmp_path, hostile_site):
    ex = _hostile(
        kind, tmp_path, hostile_site, {"HOSTILE_ALLOCATE_MIB": "512"}, memory_limit=128 * 1024**2
    )
    try:
        result = ex.run("hostile.noop", timeout=20)
        assert result.error_type == "HostStartFailed", (result.error_type, result.error)
        assert any(_name(a) == "hostile.noop" for a in ex.actions())  # the executor is fine
    finally:
        ex.close()


def _name(info) -> str:
    return info["name"] if isinstance(info, dict) else info.name


def test_a_templates_output_is_kept_to_16_mib_in_its_log(tmp_path, hostile_site):
    ex = _hostile("root", tmp_path, hostile_site, {"HOSTILE_LOG_MIB": "40"})
    try:
        assert ex.run("hostile.noop").data == "ok"
        log = Path(ex.config.state_dir) / "logs" / "template-default.log"
        deadline = time.monotonic() + 10
        while "template output cut here" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.stat().st_size
            time.sleep(0.1)
    finally:
        ex.close()
    assert 16 * 1024**2 < log.stat().st_size < 16 * 1024**2 + 4096


def test_a_flood_of_exits_of_unknown_children_keeps_the_executor_small(tmp_path):
    from executor.environments.model import default_environment
    from executor.hosts.fork.template import TemplateProcess
    from executor.layout import StateLayout
    from executor.sandbox.runtime import SandboxRuntime
    from protocol.messages import ChildExitedParams

    template = TemplateProcess(
        default_environment(),
        ExecutorConfig(state_dir=str(tmp_path)),
        SandboxRuntime(StateLayout(str(tmp_path))),
    )
    for pid in range(100_000, 110_000):
        template._on_child_exited(ChildExitedParams(pid=pid, status=0))
    assert len(template._early_exits) <= 64


@pytest.mark.parametrize("family", [40, 17, 38, 29])  # vsock, packet, alg, can
def test_an_action_opens_no_socket_but_unix_inet_and_routing_netlink(sandboxed, family):
    attempt = _data(sandboxed.run("attack.socket", {"family": family, "type": 2}))
    assert attempt["ok"] is False, attempt
    assert (
        _data(sandboxed.run("attack.socket", {"family": 16, "type": 3, "proto": 4}))["ok"] is False
    )


def test_an_environments_variables_are_in_no_command_line(tmp_path, plugin_site):
    secret = f"api-token-{uuid.uuid4().hex}"
    config = {"host_environ": {"API_TOKEN": secret}, "preload_actions": "none"}
    leaked = []
    for launcher in ("fork", "spawn"):
        ex = deployed("root", launcher, str(plugin_site), tmp_path / launcher, config=config)
        try:
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(ex.run, "attack.hold_secret", {"secret": "x", "seconds": 1.5})
                time.sleep(0.8)
                leaked += [pid for pid in _processes_with(secret)]
                assert running.result().is_success()
        finally:
            ex.close()
    assert leaked == []


def test_a_lease_file_another_user_made_is_never_trusted(tmp_path):
    from executor.sandbox import ids

    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o1777)
    lock_dir.chmod(0o1777)
    source = ids.IdSource("write", ((7_000_000, 7_000_000, 65536),), "a test")
    planted = lock_dir / "ids-7000000-65536.lock"
    planted.write_text("")
    os.chown(planted, 65534, 65534)  # nobody's: nobody may unlink it under us
    first = ids.lease(source, str(lock_dir))
    try:
        assert os.stat(planted).st_uid == 0  # root took the name back
        with pytest.raises(ids.NoIdsLeft):
            ids.lease(source, str(lock_dir))  # and nobody else gets the block
    finally:
        first.release()
