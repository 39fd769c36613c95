"""Fixtures of the unit layer: a state directory whose environments are known
without building a virtualenv or starting an interpreter.

The catalog learns an environment's actions from its ``EnvironmentIndex``,
which reads ``<state>/index/<env>-<fingerprint>.json`` before it would run
``action-host --inspect``. Writing that file with the fingerprint the
environment computes (``Environment.fingerprint()``) is the seam: the
catalog, the store and the index all run their real code, no process starts.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import pytest

from executor.config import ExecutorConfig
from executor.environments.catalog import ActionCatalog
from executor.environments.model import DEFAULT_ENV, Environment, default_environment
from executor.environments.store import EnvironmentStore, EnvRecord
from executor.layout import StateLayout
from protocol.messages import ActionInfo, ParamSpec


class StateWorld:
    """A state directory laid out as the store leaves it, with pre-filled indexes."""

    def __init__(self, root: Path) -> None:
        self.layout = StateLayout(str(root))
        self.config = ExecutorConfig(state_dir=str(root))
        self.store = EnvironmentStore(str(root))
        self.changed: list[Environment] = []

    @staticmethod
    def action(
        name: str,
        class_path: str | None = None,
        *,
        distribution: str | None = "plugin",
        params: Iterable[ParamSpec] = (),
        accepts_any_params: bool = False,
    ) -> ActionInfo:
        """An index entry as ``action-host --inspect`` would report it."""
        module = f"{distribution or 'local'}_actions"
        return ActionInfo(
            name=name,
            class_path=class_path or f"{module}.{name.title().replace('.', '')}Action",
            module=module,
            distribution=distribution,
            version="1.0",
            params=list(params),
            accepts_any_params=accepts_any_params,
        )

    def default(self, *infos: ActionInfo) -> Environment:
        """The executor's own environment provides ``infos``."""
        env = default_environment(tuple(self.config.extra_paths))
        self._write_index(env, infos)
        return env

    def env(self, name: str, *infos: ActionInfo, preferred: Iterable[str] = ()) -> Environment:
        """A managed environment: a build directory, the symlink, its record, its index."""
        build = Path(self.layout.env_versions) / f"{name}-{uuid.uuid4().hex[:12]}"
        build.mkdir(parents=True)
        link = Path(self.layout.envs) / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(build, self.layout.envs))
        record = EnvRecord(name, "/usr/bin/python3", preferred=sorted(preferred))
        (Path(self.layout.envs) / f"{name}.json").write_text(json.dumps(asdict(record)))
        env = self.store.environment(name)
        self._write_index(env, infos)
        return env

    def broken_env(self, name: str) -> Environment:
        """A managed environment with no index and no interpreter: inspecting it fails."""
        env = self.env(name)
        for path in Path(self.layout.index).glob(f"{name}-*.json"):
            path.unlink()
        return env

    def catalog(self) -> ActionCatalog:
        if not any(Path(self.layout.index).glob(f"{DEFAULT_ENV}-*.json")):
            self.default()  # an executor with no std actions, unless a test gave some
        return ActionCatalog(self.config, self.store, self.changed.append)

    def _write_index(self, env: Environment, infos: Iterable[ActionInfo]) -> None:
        os.makedirs(self.layout.index, exist_ok=True)
        path = Path(self.layout.index) / f"{env.name}-{env.fingerprint()}.json"
        path.write_text(json.dumps({i.name: i.model_dump(mode="json") for i in infos}))


@pytest.fixture
def world(tmp_path: Path) -> StateWorld:
    return StateWorld(tmp_path / "state")
