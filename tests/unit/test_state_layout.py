"""``StateLayout``: every path under the executor's state directory (executor.layout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from executor.environments.store import EnvironmentStore
from executor.layout import StateLayout


def test_each_kind_of_state_has_its_own_directory_under_the_state_dir():
    layout = StateLayout("/srv/state")
    assert {
        "envs": layout.envs,
        "cache": layout.cache,
        "wheels": layout.wheels,
        "index": layout.index,
        "work": layout.work,
        "logs": layout.logs,
        "service": layout.service,
    } == {
        "envs": "/srv/state/envs",
        "cache": "/srv/state/cache",
        "wheels": "/srv/state/wheels",
        "index": "/srv/state/index",
        "work": "/srv/state/work",
        "logs": "/srv/state/logs",
        "service": "/srv/state/service",
    }


def test_the_services_journals_keep_the_directory_they_always_had():
    # not layout.service: a journal a new version does not find loses its actions
    assert StateLayout("/srv/state").journals == "/srv/state/mistral-service"


def test_environment_builds_and_locks_live_in_hidden_folders_of_envs():
    # hidden, so "envs/<name>" can never be mistaken for a build or a lock
    layout = StateLayout("/srv/state")
    assert layout.env_versions == "/srv/state/envs/.versions"
    assert layout.env_locks == "/srv/state/envs/.locks"


def test_a_templates_log_is_named_for_its_environment():
    assert StateLayout("/srv/state").template_log("billing") == (
        "/srv/state/logs/template-billing.log"
    )


def test_building_a_layout_touches_nothing_on_disk(tmp_path: Path):
    StateLayout(str(tmp_path / "state"))
    assert not (tmp_path / "state").exists()


def test_ensure_creates_the_directories_the_executor_writes_to(tmp_path: Path):
    layout = StateLayout(str(tmp_path / "state"))
    assert layout.ensure() is layout
    for path in (layout.state_dir, layout.work, layout.logs, layout.cache, layout.index):
        assert os.path.isdir(path), path


def test_ensure_may_run_again_on_an_existing_state_dir(tmp_path: Path):
    layout = StateLayout(str(tmp_path / "state")).ensure()
    layout.ensure()
    assert os.path.isdir(layout.index)


def test_a_layout_is_a_value():
    assert StateLayout("/a") == StateLayout("/a")
    with pytest.raises(AttributeError):
        StateLayout("/a").state_dir = "/b"


def test_the_environment_store_keeps_its_files_where_the_layout_says(tmp_path: Path):
    layout = StateLayout(str(tmp_path / "state"))
    store = EnvironmentStore(layout.state_dir)
    assert (store.root, store.versions, store.locks, store.cache_dir, store.wheel_dir) == (
        layout.envs,
        layout.env_versions,
        layout.env_locks,
        layout.cache,
        layout.wheels,
    )
    assert not os.path.exists(layout.state_dir)  # and building the store did no I/O
