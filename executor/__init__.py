"""The action executor: runs each action in its own sandboxed host process.

from executor import Executor

with Executor() as ex:
    result = ex.run("std.echo", {"output": "hi"}, timeout=10)
    assert result.data == "hi"
"""

from __future__ import annotations

from executor.config import ExecutorConfig
from executor.executor import Executor
from executor.result import Result

__all__ = ["Executor", "ExecutorConfig", "Result"]
