"""What the executor answers when a host calls it: logs, and reuse of actions.

Handlers get the ``Binding`` of the host's current run: the run record
(what the call is checked against) and the pipeline that runs nested
actions through the same machinery as any other run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from executor.runs.tree import Run
from protocol.errors import InvalidParams, NestingTooDeep
from protocol.framing import find_unencodable
from protocol.handlers import Handlers
from protocol.messages import ActionOutcome, LogParams, RunActionParams
from protocol.methods import LOG, REUSE_ACTION

if TYPE_CHECKING:
    from executor.runs.pipeline import Pipeline


@dataclass(frozen=True)
class Binding:
    run: Run
    pipeline: Pipeline


host_calls: Handlers[Binding] = Handlers()


@host_calls.register(LOG)
def on_log(binding: Binding, params: LogParams) -> None:
    binding.run.log(params.level, params.logger, params.message)


@host_calls.register(REUSE_ACTION, background=True)
def on_reuse(binding: Binding, params: RunActionParams) -> ActionOutcome:
    """An action runs another action: same machinery, same caller, within its deadline.

    The security and execution contexts come from the executor's record of the
    calling run, never from what the calling host sends.
    """
    run, pipeline = binding.run, binding.pipeline
    limit = pipeline.config.max_nesting_depth
    if run.depth + 1 > limit:
        chain = [*run.chain, params.action]
        raise NestingTooDeep(
            f"nesting too deep: {' -> '.join(chain)} would be {run.depth + 1} levels "
            f"of nested actions; the limit is {limit} (max_nesting_depth)",
            data={"chain": chain},
        )
    problem = find_unencodable(params.params, "$.params")  # depth and cycles, as for any run
    if problem:
        raise InvalidParams(f"invalid input for action {params.action!r}: {problem}")
    child = run.nest(params.action, params.params, params.timeout)
    result = pipeline.run_nested(child, params.params, params.dry_run)
    return ActionOutcome(
        data=result.data,
        error=result.error,
        cancel=result.cancel,
        is_sync=result.is_sync,
        host_pid=result.host_pid,
        timings=result.timings,
    )
