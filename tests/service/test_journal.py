"""journal: what the executor accepted survives the process, until the engine has it."""

from __future__ import annotations

import pytest

from executor.service.journal import ACCEPTED, FINISHED, STARTED, Journal, JournalLocked


def test_an_accepted_run_is_read_back_as_received(tmp_path):
    path = str(tmp_path / "j.sqlite")
    journal = Journal(path)
    seq = journal.accept("id-1", True, {"request_id": "req-1"}, {"action": "{...}"})
    journal.close()
    (entry,) = Journal(path).entries()
    assert (entry.seq, entry.action_ex_id, entry.safe_rerun) == (seq, "id-1", True)
    assert entry.context == {"request_id": "req-1"}
    assert entry.args == {"action": "{...}"}
    assert entry.state == ACCEPTED


def test_a_run_moves_from_started_to_finished_with_what_is_owed(tmp_path):
    journal = Journal(str(tmp_path / "j.sqlite"))
    seq = journal.accept("id-1", False, {}, {})
    journal.started(seq)
    assert journal.entries()[0].state == STARTED
    journal.finished(seq, "cast", '{"result": 1}')
    entry = journal.entries()[0]
    assert (entry.state, entry.delivery, entry.result) == (FINISHED, "cast", '{"result": 1}')


def test_a_delivered_run_is_cleared(tmp_path):
    journal = Journal(str(tmp_path / "j.sqlite"))
    seq = journal.accept("id-1", False, {}, {})
    journal.clear(seq)
    assert journal.entries() == []
    assert len(journal) == 0


def test_a_second_process_cannot_use_the_same_journal(tmp_path):
    path = str(tmp_path / "j.sqlite")
    first = Journal(path)
    with pytest.raises(JournalLocked, match="journal_file"):
        Journal(path)
    first.close()
    Journal(path).close()
