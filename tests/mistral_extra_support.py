"""mistral-extra on both sides, built once and cached between runs.

* ``extra_state()``: an executor state directory whose environment ``extra``
  holds mistral-extra 17 (as ``action-executor install --env extra
  mistral-extra==17.0.0`` makes it), for our executor;
* ``reference_python()``: a virtualenv of its own holding mistral 23 and
  mistral-extra 17, where ``tests/mistral_reference.py`` runs Mistral's own
  executor code path.

The OpenStack client libraries are pinned in ``extra`` to the versions the
reference resolved, so both sides run the same client code. Both are rebuilt
when the runtime or a pinned version changes; a lock file keeps two suites
running at once from building the same one together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import CACHE, cache_lock, installed_version

from executor import Executor, ExecutorConfig
from executor.environments.wheels import build_runtime_wheel

HERE = Path(__file__).parent
MISTRAL = "mistral==23.0.0"
EXTRA = "mistral-extra==17.0.0"
REFERENCE = CACHE / "mistral-reference"
STATE = CACHE / "state-extra"
#: Distributions whose code makes the results: the same version on both sides.
PINNED = (
    "mistral-lib",
    "python-novaclient",
    "python-glanceclient",
    "python-keystoneclient",
    "python-heatclient",
    "python-neutronclient",
    "python-cinderclient",
    "keystoneauth1",
    "oslo.serialization",
    "oslo.utils",
)


def _uv() -> str:
    return str(Path(sys.executable).with_name("uv"))


def reference_python() -> str:
    """The Python of the reference virtualenv (mistral 23, mistral-extra 17)."""
    python = REFERENCE / "bin" / "python"
    with cache_lock("mistral-reference"):
        wanted = {"mistral": MISTRAL.split("==")[1], "mistral-extra": EXTRA.split("==")[1]}
        fresh = python.exists() and all(
            installed_version(str(python), d) == v for d, v in wanted.items()
        )
        if not fresh:
            subprocess.run([_uv(), "venv", "-q", "--clear", str(REFERENCE)], check=True)
            subprocess.run(
                [_uv(), "pip", "install", "-q", "--python", str(python), MISTRAL, EXTRA],
                check=True,
                timeout=900,
            )
    return str(python)


def pins(python: str) -> list[str]:
    """``name==version`` of the PINNED distributions in ``python``'s environment."""
    return [f"{d}=={installed_version(python, d)}" for d in PINNED]


def extra_state(reference: str) -> Path:
    """A state directory whose environment ``extra`` holds mistral-extra, its
    clients pinned to the reference's."""
    runtime = os.path.basename(build_runtime_wheel(str(CACHE / "wheels"))).split("-")[1]
    wanted = pins(reference)
    with cache_lock("state-extra"), Executor(ExecutorConfig(state_dir=str(STATE))) as ex:
        env = ex.store.environment("extra")
        fresh = (
            os.path.exists(env.python)
            and installed_version(env.python, "mistral-action-host") == runtime
            and pins(env.python) == wanted
            and installed_version(env.python, "mistral-extra") == EXTRA.split("==")[1]
        )
        if not fresh:
            if "extra" in ex.store.names():
                ex.store.remove("extra")
            ex.install("extra", [EXTRA, *wanted])
    return STATE


def mistral_results(python: str, rpc_ctx: dict[str, Any], calls: list[dict[str, Any]]) -> Any:
    """What Mistral's own executor returns for ``calls`` (``mistral_reference.py``)."""
    proc = subprocess.run(
        [python, str(HERE / "mistral_reference.py")],
        input=json.dumps({"rpc_ctx": rpc_ctx, "calls": calls}),
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)
