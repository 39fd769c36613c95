"""Recovery at a start: finishing what the journal holds from a previous process.

Each run found there is in the state that process reached: FINISHED ->
deliver the result it did not deliver; ACCEPTED (never started), or STARTED
and marked safe-rerun -> run it again; STARTED and not safe -> tell the
engine it failed. A row that cannot be handled is dropped, never a reason
for the start to fail.
"""

from __future__ import annotations

import contextlib
import logging

from executor.service.delivery import Delivery, Outbox
from executor.service.jobs import Job, JobQueue
from executor.service.journal import FINISHED, STARTED, Entry, Journal
from executor.service.outcome import CALL, Reporter

log = logging.getLogger(__name__)


def recover(journal: Journal, jobs: JobQueue, outbox: Outbox, reporter: Reporter) -> None:
    entries = journal.entries()
    if not entries:
        return
    counts = {"delivered": 0, "rerun": 0, "reported": 0}
    for entry in entries:
        try:
            kind = _recover_one(entry, journal, jobs, outbox, reporter)
        except Exception:  # a row this process cannot handle must not stop its start
            log.exception(
                "journal: skipping run %s [action_ex_id=%s], which cannot be recovered",
                entry.seq,
                entry.action_ex_id,
            )
            with contextlib.suppress(Exception):
                journal.clear(entry.seq)
            kind = "reported"
        counts[kind] += 1
    log.warning(
        "journal: %d unfinished run(s) from a previous process: %d result(s) to deliver, "
        "%d re-run, %d reported as failed",
        len(entries),
        counts["delivered"],
        counts["rerun"],
        counts["reported"],
    )


def _recover_one(
    entry: Entry, journal: Journal, jobs: JobQueue, outbox: Outbox, reporter: Reporter
) -> str:
    if entry.action_ex_id is None:
        journal.clear(entry.seq)
        return "reported"
    if entry.state == FINISHED:
        call = entry.delivery == CALL
        outbox.put(Delivery(entry.seq, entry.context, entry.action_ex_id, entry.result, call))
        return "delivered"
    started = entry.state == STARTED
    job = Job(
        entry.seq, entry.context, entry.args, entry.action_ex_id, entry.safe_rerun, rerun=started
    )
    if not started or entry.safe_rerun:
        jobs.readmit(job)
        return "rerun"
    reporter.refuse(
        job,
        "executor restarted while the action ran; it is not marked safe-rerun, so it "
        "was not run again",
    )
    return "reported"
