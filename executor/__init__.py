"""The action executor: runs each action in its own sandboxed host process.

    from executor import Executor

    with Executor() as ex:
        result = ex.run("std.echo", {"output": "hi"}, timeout=10)
        assert result.data == "hi"

Sub-packages follow the data path: ``runs`` (admission, the run tree, the
pipeline, the hosts' calls back), ``hosts`` (launchers, sessions, process
lifecycle; ``hosts.fork`` for warm templates), ``sandbox`` (what each host
gets), ``environments`` (virtualenvs, indexes, the catalog), ``cli`` and
``service`` (Mistral's executor over oslo.messaging).
"""

from __future__ import annotations

from executor.config import ExecutorConfig
from executor.errors import ErrorKind
from executor.executor import ActionInstance, Executor
from executor.result import Result

__all__ = ["ActionInstance", "ErrorKind", "Executor", "ExecutorConfig", "Result"]
