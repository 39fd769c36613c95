"""The journal: every accepted ``run_action`` on disk until the engine has its result.

oslo.messaging acknowledges an RPC message when it arrives, so a broker never
redelivers what a dead executor held: Mistral's ``safe-rerun`` is inert on
it. This journal makes it real. A run is written (``accepted``) before it is
queued, marked ``started`` when an action host gets it, ``finished`` with
the exact message to send once it ended, and deleted once the engine has
that message. After a crash the next start finds every unfinished run: never
started or safe to re-run -> run it again; started and not safe -> tell the
engine it failed; finished -> deliver the result that was not delivered.

sqlite in WAL mode with ``synchronous=NORMAL``: a commit survives the
process being killed (not a power cut), at tens of microseconds per write.
One process owns a journal file (an exclusive ``flock``).
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

ACCEPTED, STARTED, FINISHED = "accepted", "started", "finished"

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


class JournalLocked(RuntimeError):
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
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise JournalLocked(
                f"another action-executor process uses the journal {path}; give each "
                "executor its own [executor] host or [action_executor_service] journal_file"
            ) from None
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._mutex = threading.Lock()

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
        with self._mutex:
            cur = self._db.execute(
                "INSERT INTO runs (action_ex_id, safe_rerun, context, args, state, accepted_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            seq = cur.lastrowid
        assert seq is not None
        return seq

    def started(self, seq: int) -> None:
        with self._mutex:
            self._db.execute(
                "UPDATE runs SET state = ?, started_at = ? WHERE seq = ?",
                (STARTED, time.time(), seq),
            )

    def finished(self, seq: int, delivery: str, result: str | None) -> None:
        """The run ended: ``delivery`` is "cast", "call" or "none", ``result`` its text."""
        with self._mutex:
            self._db.execute(
                "UPDATE runs SET state = ?, delivery = ?, result = ? WHERE seq = ?",
                (FINISHED, delivery, result, seq),
            )

    def clear(self, seq: int) -> None:
        """The engine has the result (or nothing is owed to it): forget the run."""
        with self._mutex:
            self._db.execute("DELETE FROM runs WHERE seq = ?", (seq,))

    def entries(self) -> list[Entry]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT seq, action_ex_id, safe_rerun, context, args, state, delivery, result"
                " FROM runs ORDER BY seq"
            ).fetchall()
        return [
            Entry(r[0], r[1], bool(r[2]), json.loads(r[3]), json.loads(r[4]), r[5], r[6], r[7])
            for r in rows
        ]

    def __len__(self) -> int:
        with self._mutex:
            (count,) = self._db.execute("SELECT COUNT(*) FROM runs").fetchone()
        return int(count)

    def close(self) -> None:
        with self._mutex:
            self._db.close()
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            os.close(self._lock_fd)
