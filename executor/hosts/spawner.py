"""Starting host and template processes from one long-lived thread.

Hosts and templates ask the kernel to kill them when their parent dies
(``PR_SET_PDEATHSIG``, see ``action_host/lifeline.py``), so nothing outlives
an executor that is SIGKILLed. For the kernel the "parent" is the *thread*
that forked: a process started from a short-lived thread (a request thread
of a pool) would be killed when that thread ends. So every such process is
started here, from one thread that lives as long as the executor's process.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _loop() -> None:
    while True:
        job, future = _jobs.get()
        try:
            future.set_result(job())
        except BaseException as exc:
            future.set_exception(exc)


def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(*args, **kwargs)``, run on the spawner thread."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_loop, name="host-spawner", daemon=True)
            _thread.start()
    if threading.current_thread() is _thread:
        return subprocess.Popen(*args, **kwargs)
    future: Future[subprocess.Popen[bytes]] = Future()
    _jobs.put((lambda: subprocess.Popen(*args, **kwargs), future))
    return future.result()
