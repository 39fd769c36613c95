"""What a host sees of the file system, decided without running its interpreter.

The view (``protocol.launch_plan.ViewPlan``) is built before the
environment's interpreter starts, because that interpreter runs plugin code
from its first instruction. So the directories it needs are found here by
reading the environment, not by asking it: its prefix, its base
interpreter (``pyvenv.cfg``), its site-packages and what their ``.pth`` files
and editable installs point at (read as text, never executed), and the
extra import paths the executor and its settings (``PYTHONPATH``) give it.
Those of them under a hidden
directory (the state dir, /root, /tmp...) are shown again, read-only.
"""

from __future__ import annotations

import dis
import glob
import os
import re
import sys
from collections.abc import Iterable

from executor.environments.model import Environment
from protocol.launch_plan import ViewPlan

#: Hidden behind an empty read-only tmpfs (what exists of them): homes, the
#: host's sockets and runtime state, shared temporary directories, logs, mail.
HIDDEN = (
    "/root",
    "/home",
    "/run",
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/var/log",
    "/var/mail",
    "/var/spool",
)


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _prefix(env: Environment) -> str:
    if env.path:
        return env.path
    if os.path.realpath(env.python) == os.path.realpath(sys.executable):
        return sys.prefix
    return os.path.dirname(os.path.dirname(env.python))


def _base_prefix(prefix: str) -> str | None:
    try:
        with open(os.path.join(prefix, "pyvenv.cfg")) as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() == "home":
                    return os.path.dirname(os.path.realpath(value.strip()))
    except OSError:
        pass
    return None


def _pth_paths(site: str) -> set[str]:
    """What ``.pth`` files and setuptools' editable finders in ``site`` add to
    sys.path (read, never run: an ``import`` line is skipped)."""
    found: set[str] = set()
    for pth in glob.glob(os.path.join(site, "*.pth")):
        try:
            with open(pth, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            found.add(os.path.join(site, line))
    for finder in glob.glob(os.path.join(site, "__editable__*finder.py")):
        found.update(_editable_mapping(finder))
    return found


#: The one line of a setuptools editable finder that says where its packages
#: are: ``MAPPING: dict[str, str] = {...}`` (older versions: no annotation).
_MAPPING_LINE = re.compile(r"^MAPPING\s*(?::[^=]*)?=\s*(\{.*\})\s*$", re.MULTILINE)

#: What the bytecode of a dict display of constants may do: load constants
#: and build the dict. Nothing that names, calls or computes.
_CONSTANT_OPS = frozenset(
    {
        "RESUME",
        "NOP",
        "CACHE",
        "LOAD_CONST",
        "BUILD_MAP",
        "BUILD_CONST_KEY_MAP",
        "DICT_UPDATE",
        "MAP_ADD",
        "RETURN_VALUE",
        "RETURN_CONST",
    }
)


def _editable_mapping(path: str) -> set[str]:
    """The package folders of a setuptools editable finder's ``MAPPING``.

    Compiled to bytecode and evaluated only if it is nothing but a dict of
    constants, not parsed with ``ast``: CPython 3.11 keeps ``ast``'s recursion
    bookkeeping per process, so any other thread parsing at the same moment
    fails both with "AST constructor recursion depth mismatch".
    """
    try:
        with open(path, encoding="utf-8") as f:
            match = _MAPPING_LINE.search(f.read())
        if match is None:
            return set()
        code = compile(match.group(1), path, "eval", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return set()
    if code.co_names or any(i.opname not in _CONSTANT_OPS for i in dis.get_instructions(code)):
        return set()
    mapping = eval(code, {"__builtins__": {}})  # constants only, checked above
    if not isinstance(mapping, dict):
        return set()
    return {v for v in mapping.values() if isinstance(v, str)}


def environment_paths(env: Environment) -> list[str]:
    """The real directories ``env``'s interpreter reads code from."""
    prefix = _prefix(env)
    paths = {prefix, os.path.dirname(os.path.realpath(env.python))}
    base = _base_prefix(prefix)
    if base:
        paths.add(base)
    else:
        paths.add(os.path.dirname(os.path.dirname(os.path.realpath(env.python))))
    for site in glob.glob(os.path.join(prefix, "lib", "python*", "site-packages")):
        paths.add(site)
        paths.update(_pth_paths(site))
    paths.update(env.extra_paths)
    paths.update(p for p in env.settings.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    kept: list[str] = []
    for path in real:  # drop paths inside another kept one
        if not any(under(path, k) for k in kept):
            kept.append(path)
    return kept


def view_for(env: Environment, hide: Iterable[str]) -> ViewPlan:
    """``env``'s view: ``HIDDEN`` and ``hide`` hidden, its own directories shown."""
    hidden = sorted({os.path.realpath(p) for p in (*HIDDEN, *hide)}, key=len)
    expose = [p for p in environment_paths(env) if any(under(p, h) for h in hidden)]
    aliases = set()
    # the names it is called by, when they pass through a symlink in a hidden
    # directory (a managed environment: <state>/envs/NAME -> .versions/NAME-<id>)
    for name in (env.python, *env.extra_paths, *([env.path] if env.path else [])):
        name = os.path.abspath(name)
        top = os.path.abspath(env.path) if env.path and under(name, env.path) else name
        real = os.path.realpath(top)
        if real != top and any(under(top, h) for h in hidden):
            aliases.add((top, real))
    return ViewPlan(
        hide=tuple(hidden),
        expose=tuple(expose),
        aliases=tuple(sorted(aliases)),
    )


def exposed_under_tmp(plan: ViewPlan) -> list[str]:
    """The shown-again paths a child's private /tmp covers (it binds them again)."""
    return [p for p in (*plan.expose, *(a for a, _ in plan.aliases)) if under(p, "/tmp")]
