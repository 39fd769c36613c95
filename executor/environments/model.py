"""Environments: an interpreter (usually a virtualenv's) that provides actions.

The executor's own interpreter is the ``default`` environment and provides
the std actions. Hosts always run under their environment's interpreter,
called by absolute path (a pyenv shim would cost 0.1 s per start).
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
from dataclasses import dataclass, field

DEFAULT_ENV = "default"


@dataclass(frozen=True)
class Environment:
    name: str
    python: str
    #: Extra import paths for hosts of this environment (PYTHONPATH).
    extra_paths: tuple[str, ...] = field(default_factory=tuple)
    #: Directory of the virtualenv, when it is one we manage.
    path: str | None = None

    def target(self) -> str:
        """Where the environment really is now (a managed one is a symlink to a build)."""
        return os.path.realpath(self.path) if self.path else self.python

    def site_dirs(self) -> list[str]:
        """Where this environment's distributions live (for change detection)."""
        if self.path:
            dirs = glob.glob(os.path.join(self.path, "lib", "python*", "site-packages"))
        else:
            import site

            dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
            if self.python != sys.executable:
                dirs = []
        return sorted(dirs) + list(self.extra_paths)

    def fingerprint(self) -> str:
        """Changes whenever a distribution is added, removed or re-installed."""
        digest = hashlib.sha256(self.python.encode())
        for directory in self.site_dirs():
            digest.update(directory.encode())
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.endswith((".dist-info", ".egg-info", ".pth", ".egg-link")):
                    digest.update(entry.name.encode())
                    ep = os.path.join(entry.path, "entry_points.txt")
                    for path in (entry.path, ep):
                        try:
                            digest.update(str(os.stat(path).st_mtime_ns).encode())
                        except OSError:
                            pass
        return digest.hexdigest()[:16]


def default_environment(extra_paths: tuple[str, ...] = ()) -> Environment:
    return Environment(DEFAULT_ENV, sys.executable, tuple(extra_paths))
