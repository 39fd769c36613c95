"""What a host gets instead of the executor's world.

Per action: a private working directory (removed afterwards), a clean
environment (none of the executor's variables, credentials or open files
leak in), and its own session and process group so the whole tree can be
killed. Credentials reach the action only through its context.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from executor.config import ExecutorConfig
from executor.environments.model import Environment

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class Sandbox:
    def __init__(self, env: Environment, *, work_root: str, cache_dir: str) -> None:
        os.makedirs(work_root, exist_ok=True)
        self.workdir = tempfile.mkdtemp(prefix="action-", dir=work_root)
        self.environ = host_environ(env, home=self.workdir, cache_dir=cache_dir)

    @classmethod
    def for_config(cls, env: Environment, config: ExecutorConfig) -> Sandbox:
        return cls(
            env,
            work_root=os.path.join(config.state_dir, "work"),
            cache_dir=os.path.join(config.state_dir, "cache"),
        )

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def host_environ(env: Environment, *, home: str, cache_dir: str) -> dict[str, str]:
    environ = {
        "PATH": SAFE_PATH,
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # stevedore keeps its entry-point cache here; shared so it stays warm.
        "XDG_CACHE_HOME": cache_dir,
    }
    if env.extra_paths:
        environ["PYTHONPATH"] = os.pathsep.join(env.extra_paths)
    return environ
