"""A job's one outcome: what Mistral's engine is owed for it, journaled, then handed on.

As Mistral's ``DefaultExecutor``: an action that raised, timed out, crashed
or was refused is sent back with a call (``send_error_back``); one that
returned (data, or its own error Result) with a cast, and nothing at all for
an async action that started fine. A call's reply is the same Result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from executor import ErrorKind, Result
from executor.service import wire
from executor.service.delivery import Delivery, Outbox
from executor.service.jobs import Job, JobQueue
from executor.service.journal import Journal, JournalError

log = logging.getLogger(__name__)

CAST, CALL, NONE = "cast", "call", "none"


def mistral_error(
    action: str, action_ex_id: str | None, cause: Any, exception: str | None = None
) -> str:
    """Mistral's wording, so that operators' searches and alerts keep working:
    an exception's own message, without the ``<Type>: `` our results start with."""
    text = str(cause)
    if text.startswith("The action raised an exception ["):
        return text
    if exception is not None:
        text = text.removeprefix(f"{exception.rsplit('.', 1)[-1]}: ")
    return (
        f"The action raised an exception [action={action}, action_ex_id={action_ex_id}, "
        f"msg='{text}']"
    )


@dataclass(frozen=True)
class Owed:
    """``text`` goes to the engine as ``delivery`` (CAST, CALL or NONE); ``reply`` to a call."""

    text: str | None
    delivery: str
    reply: str | None


def owed_for(
    result: Result, action: str, action_ex_id: str | None, *, kind_in_reply: bool = False
) -> Owed:
    """``kind_in_reply``: the reply names the ErrorKind (``action-executor
    call`` exits 2 for a refusal); the engine's text never does."""
    kind = str(result.error_type) if kind_in_reply and result.error_type else None
    if result.is_error() and result.error_type not in (None, ErrorKind.ACTION_ERROR):
        # Raised, timed out, crashed, refused: Mistral's send_error_back, a call.
        message = mistral_error(action, action_ex_id, result.error, result.exception)
        error = wire.encode(wire.WireResult(error=message))
        reply = None if action_ex_id else wire.encode(wire.WireResult(error=message, kind=kind))
        return Owed(error, CALL if action_ex_id else NONE, reply)
    # Returned (data, or its own error Result): a cast, unless async and fine.
    returned = wire.encode(wire.WireResult(result.data, result.error, result.cancel))
    if kind is not None:  # a call's own reply: the engine's text stays as it is
        reply = wire.encode(wire.WireResult(result.data, result.error, result.cancel, kind))
    else:
        reply = returned
    if not result.is_sync and not result.is_error():
        return Owed(None, NONE, reply)
    return Owed(returned, CAST if action_ex_id else NONE, reply)


class Reporter:
    """Ends jobs: exactly one outcome each, journaled before a call gets its reply."""

    def __init__(self, journal: Journal, jobs: JobQueue, outbox: Outbox) -> None:
        self.journal = journal
        self.jobs = jobs
        self.outbox = outbox
        #: told each result once (the metrics), when the service has them
        self.observe: Callable[[Result], None] | None = None

    def finish(self, job: Job, result: Result, action: str) -> None:
        """Decide what the engine is owed, journal it, send it."""
        if not job.claim():
            return
        if self.observe is not None:
            self.observe(result)
        if job.action_ex_id:
            self.jobs.remember(job.action_ex_id)
        owed = owed_for(result, action, job.action_ex_id, kind_in_reply="action_params" in job.args)
        log.info(
            "action %s [action_ex_id=%s] ended: %s%s; to the engine: %s",
            action,
            job.action_ex_id,
            "success" if result.is_success() else f"error ({result.error_type or 'cancel'})",
            "" if result.is_sync else ", async",
            {NONE: "nothing", CAST: "cast", CALL: "call"}[owed.delivery],
        )
        if job.seq is not None:
            if owed.delivery == NONE:
                self.outbox.clear(job.seq)
            else:
                try:
                    self.journal.finished(job.seq, owed.delivery, owed.text)
                except JournalError as exc:  # delivered all the same, from memory
                    log.error("result of %s not journaled: %s", job.action_ex_id, exc)
        job.finished(owed.reply)
        if owed.delivery != NONE:
            assert job.action_ex_id is not None
            self.outbox.put(
                Delivery(job.seq, job.ctx, job.action_ex_id, owed.text, owed.delivery == CALL)
            )

    def refuse(self, job: Job, cause: str, kind: ErrorKind = ErrorKind.EXECUTOR_CLOSED) -> None:
        action = action_label(job)
        self.finish(job, Result(error=cause, error_type=kind, action=action), action)

    def refuse_safely(self, job: Job, cause: str) -> None:
        """``refuse`` that cannot take the calling thread down with it."""
        try:
            self.refuse(job, cause)
        except Exception:
            log.exception("could not report action %s as failed", job.action_ex_id)
            job.abandon()


def action_label(job: Job) -> str:
    try:
        return wire.decode_action(job.args.get("action")).class_path
    except Exception:  # whatever the engine sent: never fail a report for it
        return "<undecodable action>"
