"""``Lifecycle[S]``: named states, the moves allowed between them, one ``change()``.

Stdlib only, so every layer of the executor can use it. Each object that
lives through stages (a host, a template, the executor, the service, a run,
a job) declares its states as an ``enum.Enum`` and its moves as a table, and
changes state only through ``change``: the table is the documentation, a move
it does not list is a bug that raises ``InvalidTransition`` at the place it
happens, and whoever waits for a state is woken by the move itself.

States listed as ``final`` absorb every later move: ``change`` returns False
instead of raising, because an exit races with kills and closes by design
and the first one to arrive wins.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Collection, Mapping
from typing import Generic, TypeVar

S = TypeVar("S", bound=enum.Enum)


class InvalidTransition(RuntimeError):
    """A move the table does not allow: a bug in the caller."""


class Lifecycle(Generic[S]):
    """The state of one object, when it last moved, and a way to wait for a state."""

    def __init__(
        self,
        name: str,
        initial: S,
        transitions: Mapping[S, Collection[S]],
        final: Collection[S] = (),
    ) -> None:
        self.name = name
        self.state = initial
        self.changed_at = time.monotonic()
        self._transitions = transitions
        self._final = frozenset(final)
        self._cond = threading.Condition()

    def change(self, new: S, *, only_from: Collection[S] | None = None) -> bool:
        """Move to ``new``; False if the state is final, or (with ``only_from``)
        if the current state is not one of those, so callers that race for a
        move (two closes) need no lock of their own."""
        with self._cond:
            if self.state in self._final:
                return False
            if only_from is not None and self.state not in only_from:
                return False
            if new not in self._transitions[self.state]:
                raise InvalidTransition(
                    f"{self.name}: {_label(self.state)} -> {_label(new)} is not allowed"
                )
            self.state = new
            self.changed_at = time.monotonic()
            self._moved(new)
            self._cond.notify_all()
            return True

    def _moved(self, new: S) -> None:
        """Called under the lock after each move, before waiters wake."""

    def is_in(self, *states: S) -> bool:
        return self.state in states

    def wait_for(self, states: Collection[S], timeout: float | None) -> bool:
        """Wait until the state is one of ``states``; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.state in states, timeout=timeout)

    def __repr__(self) -> str:
        return f"<Lifecycle {self.name}: {_label(self.state)}>"


def _label(state: enum.Enum) -> str:
    return state.value if isinstance(state.value, str) else state.name
