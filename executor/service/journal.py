"""The journal: every accepted ``run_action`` on disk until the engine has its result.

oslo.messaging acknowledges an RPC message when it arrives, so a broker never
redelivers what a dead executor held: Mistral's ``safe-rerun`` is inert on
it. This journal makes it real (and the service acknowledges a request only
once its run is written here: ``executor.service.endpoint.RpcServer``).
A run is written (``accepted``) before it is queued, marked ``started``
when an action host gets it, ``finished`` with the exact message to send
once it ended, and deleted once the engine has that message. After a crash
the next start finds every unfinished run: never started or safe to re-run
-> run it again; started and not safe -> tell the engine it failed;
finished -> deliver the result that was not delivered.

sqlite in WAL mode with ``synchronous=NORMAL``: a commit survives the
process being killed (not a power cut), at tens of microseconds per write.
The WAL is checkpointed every ~400 KiB and cut back to 1 MiB, so a busy
executor's journal stays small. One process owns a journal file (an
exclusive ``flock``). Every failure to read or write it (a full or read-only
file system) is a ``JournalError`` naming the file and the fix; the service
decides what each one costs (``executor.service.server`` and the
modules it builds on).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from executor.service.states import JobState

#: A run's ``state`` column: the job's own state names (``JobState``); a job
#: that is ENDING is still STARTED (or ACCEPTED) here until it is FINISHED.
ACCEPTED: str = JobState.ACCEPTED.value
STARTED: str = JobState.STARTED.value
FINISHED: str = JobState.FINISHED.value

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action_ex_id TEXT,
    safe_rerun INTEGER NOT NULL,
    context TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    delivery TEXT,
    result TEXT,
    accepted_at REAL NOT NULL,
    started_at REAL
)
"""


WAL_CHECKPOINT_PAGES = 100
WAL_SIZE_LIMIT = 1 << 20


class JournalError(RuntimeError):
    """The journal file cannot be read or written."""


class JournalLocked(JournalError):
    """Another process uses this journal file."""


@dataclass(frozen=True)
class Entry:
    """One journaled run: the wire arguments and context exactly as received."""

    seq: int
    action_ex_id: str | None
    safe_rerun: bool
    context: dict[str, Any]
    args: dict[str, Any]
    state: str
    delivery: str | None
    result: str | None


class Journal:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._error(exc) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise JournalLocked(
                f"another action-executor process uses the journal {path}; give each "
                "executor its own [executor] host or [action_executor_service] journal_file"
            ) from None
        self._mutex = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._db.execute(_SCHEMA)
            self._db.execute("CREATE INDEX IF NOT EXISTS runs_by_id ON runs (action_ex_id)")
            self._db.execute("BEGIN IMMEDIATE")  # takes the write lock: proves it is writable
            self._db.execute("ROLLBACK")
        except (sqlite3.Error, OSError) as exc:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> JournalError:
        return JournalError(
            f"the journal {self.path} cannot be written ({exc}): free space on its file "
            "system, make it writable for the executor's user, or move it "
            "([action_executor_service] journal_file)"
        )

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._mutex:
            try:
                return self._db.execute(sql, params)
            except (sqlite3.Error, OSError) as exc:
                raise self._error(exc) from exc

    def _query(self, sql: str) -> list[Any]:
        return self._query_args(sql, ())

    def _query_args(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._mutex:
            try:
                return self._db.execute(sql, params).fetchall()
            except (sqlite3.Error, OSError) as exc:
                raise self._error(exc) from exc

    def accept(
        self,
        action_ex_id: str | None,
        safe_rerun: bool,
        context: dict[str, Any],
        args: dict[str, Any],
    ) -> int:
        """Record a run before anything else happens to it; returns its sequence number."""
        row = (
            action_ex_id,
            int(safe_rerun),
            json.dumps(context),
            json.dumps(args),
            ACCEPTED,
            time.time(),
        )
        cur = self._execute(
            "INSERT INTO runs (action_ex_id, safe_rerun, context, args, state, accepted_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            row,
        )
        seq = cur.lastrowid
        assert seq is not None
        return seq

    def holds(self, action_ex_id: str) -> bool:
        """True while a run of this id is journaled (any state): a second delivery of it."""
        sql = "SELECT 1 FROM runs WHERE action_ex_id = ? LIMIT 1"
        return bool(self._query_args(sql, (action_ex_id,)))

    def started(self, seq: int) -> None:
        self._execute(
            "UPDATE runs SET state = ?, started_at = ? WHERE seq = ?", (STARTED, time.time(), seq)
        )

    def finished(self, seq: int, delivery: str, result: str | None) -> None:
        """The run ended: ``delivery`` is "cast", "call" or "none", ``result`` its text."""
        self._execute(
            "UPDATE runs SET state = ?, delivery = ?, result = ? WHERE seq = ?",
            (FINISHED, delivery, result, seq),
        )

    def clear(self, seq: int) -> None:
        """The engine has the result (or nothing is owed to it): forget the run."""
        self._execute("DELETE FROM runs WHERE seq = ?", (seq,))

    def entries(self) -> list[Entry]:
        rows = self._query(
            "SELECT seq, action_ex_id, safe_rerun, context, args, state, delivery, result"
            " FROM runs ORDER BY seq"
        )
        return [
            Entry(r[0], r[1], bool(r[2]), json.loads(r[3]), json.loads(r[4]), r[5], r[6], r[7])
            for r in rows
        ]

    def __len__(self) -> int:
        ((count,),) = self._query("SELECT COUNT(*) FROM runs")
        return int(count)

    def close(self) -> None:
        with self._mutex:
            self._db.close()
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            os.close(self._lock_fd)
