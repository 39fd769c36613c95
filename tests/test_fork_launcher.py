"""The fork launcher: a fresh process per action, nothing lost, nothing left."""

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import process_exists
from proc_watch import asleep_in_nanosleep, children_of, wait_until

from executor import Executor, ExecutorConfig
from executor.layout import StateLayout


def _template_pid(ex):
    return ex.stats().templates[ex.default_env.name]


def _children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def test_every_action_gets_a_fresh_process(fork_executor):
    results = [fork_executor.run("test.counter") for _ in range(100)]
    assert all(r.is_success() for r in results)
    assert max(r.data["counter"] for r in results) == 1
    assert len({r.data["pid"] for r in results}) == 100


def test_nothing_one_action_sets_is_visible_to_the_next(fork_executor):
    first = fork_executor.run("test.env_leak")
    second = fork_executor.run("test.env_leak")
    assert second.data["env"] is None
    assert second.data["global"] is None
    assert second.data["cwd_file"] is False
    assert first.data["cwd"] != second.data["cwd"]


def test_the_template_never_runs_action_code(fork_executor):
    result = fork_executor.run("test.counter")
    assert result.data["pid"] != _template_pid(fork_executor)


def test_a_thousand_actions_at_concurrency_8_each_return_exactly_one_correct_result(
    make_executor,
):
    ex = make_executor(max_concurrency=8)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: ex.run("std.echo", {"output": i}), range(1000)))
    bad = [(i, r.error_type, r.error) for i, r in enumerate(results) if r.data != i]
    assert bad == []
    assert all(r.is_success() for r in results)


def test_killing_the_template_mid_load_loses_no_request(make_executor):
    """Runs in flight on a killed template die with it (its children must never
    outlive it) and say so; every other request is served by its replacement."""
    ex = make_executor(max_concurrency=8, spare_children=1)
    ex.run("std.noop")
    stop = threading.Event()
    kills = []

    def killer():
        while not stop.is_set() and len(kills) < 5:
            time.sleep(0.15)
            try:
                pid = _template_pid(ex)
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
            except (KeyError, ProcessLookupError):
                pass  # between two templates

    thread = threading.Thread(target=killer)
    thread.start()
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: ex.run("std.echo", {"output": i, "delay": 0.01}), range(400))
        )
    stop.set()
    thread.join()
    assert len(kills) >= 2
    assert len(results) == 400
    died = [r for r in results if r.data is None]
    assert all(r.error_type == "HostCrashed" and "its template died" in r.error for r in died), [
        (r.error_type, r.error) for r in died
    ]
    assert len(died) <= 8 * len(kills)  # at most the runs in flight at each kill
    served = [i for i, r in enumerate(results) if r.data == i]
    assert len(served) + len(died) == 400
    assert ex.run("std.echo", {"output": "after"}).data == "after"


def test_a_wedged_template_is_replaced(make_executor):
    ex = make_executor(spare_children=0, template_fork_timeout=1.0)
    ex.run("std.noop")
    wedged = _template_pid(ex)
    os.kill(wedged, signal.SIGSTOP)
    try:
        result = ex.run("std.echo", {"output": "still served"})
    finally:
        try:
            os.kill(wedged, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert result.data == "still served"
    assert _template_pid(ex) != wedged


def test_after_shutdown_no_template_child_or_zombie_remains(plugin_site, tmp_path):
    ex = Executor(
        ExecutorConfig(state_dir=str(tmp_path), launcher="fork", extra_paths=(str(plugin_site),))
    )
    pids = {ex.run("std.noop").host_pid for _ in range(5)}
    template = _template_pid(ex)
    spares = set(_children_of(template))
    ex.close()
    deadline = time.monotonic() + 5
    remaining = pids | spares | {template}
    while time.monotonic() < deadline and any(process_exists(p) for p in remaining):
        time.sleep(0.05)
    assert [p for p in remaining if process_exists(p)] == []
    zombies = [p for p in _children_of(os.getpid()) if not process_exists(p)]
    assert zombies == []


def _sleeping_host(ex) -> bool:
    """A host of ``ex``'s template is in std.sleep (it holds a run slot)."""
    template = ex.stats().templates.get(ex.default_env.name)
    return template is not None and any(map(asleep_in_nanosleep, children_of(template)))


def test_a_full_queue_is_an_immediate_clear_error(make_executor):
    ex = make_executor(max_concurrency=1, queue_size=1)
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(ex.run, "std.sleep", {"seconds": 2})
        wait_until(lambda: _sleeping_host(ex), 30, "std.sleep running")
        waiting = pool.submit(ex.run, "std.noop")
        # the queue's length is no public state (Executor.stats() has none)
        wait_until(lambda: ex._admitter.waiting == 1, 30, "std.noop queued")
        started = time.monotonic()
        refused = ex.run("std.noop")
        elapsed = time.monotonic() - started
        assert refused.error_type == "QueueFull"
        assert "queue is full" in refused.error
        assert elapsed < 0.5
        assert running.result().is_success()
        assert waiting.result().is_success()


def test_spares_are_ready_before_the_first_request(make_executor):
    ex = make_executor(spare_children=2)
    ex.run("std.noop")
    deadline = time.monotonic() + 10
    while ex.stats().spares.get(ex.default_env.name, 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ex.stats().spares.get(ex.default_env.name, 0) == 2
    result = ex.run("std.noop")
    assert result.timings["host_start"] < 0.05


# -- what a template imports for its children (preload_actions) -----------------


def _imported_here(ex, runs):
    return [ex.run("test.imported_where").data["imported_here"] for _ in range(runs)]


def test_a_template_imports_an_action_after_its_first_successful_run(make_executor):
    """preload_actions="used": the first host imports the action itself; the
    template then imports it, and the hosts forked after that start with it."""
    ex = make_executor(preload_actions="used", spare_children=0)
    assert _imported_here(ex, 3) == [True, False, False]


def test_a_template_preloading_all_imports_every_action_at_start(make_executor):
    ex = make_executor(preload_actions="all", spare_children=0)
    assert _imported_here(ex, 2) == [False, False]


def test_a_template_preloading_none_leaves_every_import_to_its_hosts(make_executor):
    ex = make_executor(preload_actions="none", spare_children=0)
    assert _imported_here(ex, 3) == [True, True, True]


def test_an_action_that_failed_to_load_is_not_preloaded(make_executor):
    """Only a run that imported and ran the action makes the template import
    it: a broken plugin's import never runs in the template."""
    ex = make_executor(preload_actions="used", spare_children=0)
    assert ex.run("test.broken").error_type == "ActionLoadError"
    assert ex.run("test.imported_where").is_success()  # a later preload is served
    assert _imported_here(ex, 1) == [False]
    log = StateLayout(ex.config.state_dir).template_log(ex.default_env.name)
    with open(log) as f:
        assert "could not preload" not in f.read()


def test_an_unknown_preload_mode_is_refused_with_the_modes():
    with pytest.raises(ValueError, match=r"preload_actions is 'some'; use one of"):
        ExecutorConfig(preload_actions="some")


def test_a_run_whose_deadline_passes_while_forking_leaves_the_template_serving(make_executor):
    ex = make_executor(spare_children=0)
    ex.run("std.noop")
    template = ex.stats().templates[ex.default_env.name]
    results = [ex.run("std.echo", {"output": i}, timeout=0.0005) for i in range(20)]
    assert {r.error_type for r in results} <= {None, "Timeout"}
    assert ex.stats().templates[ex.default_env.name] == template
    assert ex.run("std.echo", {"output": "after"}).data == "after"


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -1, "30", True])
def test_a_timeout_that_is_no_timeout_is_refused_before_anything_runs(make_executor, timeout):
    result = make_executor().run("std.echo", {"output": "x"}, timeout=timeout)
    assert result.error_type == "InvalidInput"
    assert "timeout must be" in result.error
