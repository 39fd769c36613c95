"""``Deadline``: a point on the monotonic clock, or none.

One value passed down the data path (admission, template start, fork,
handshake, the run itself) instead of a ``float | None`` that every
function must remember to compare with ``time.monotonic()``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    #: ``time.monotonic()`` value; None means no deadline.
    at: float | None = None

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        """``seconds`` from now; None gives no deadline."""
        return cls(None if seconds is None else time.monotonic() + seconds)

    @property
    def is_set(self) -> bool:
        return self.at is not None

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def earliest(self, other: Deadline) -> Deadline:
        """Whichever ends first."""
        if self.at is None:
            return other
        if other.at is None:
            return self
        return self if self.at <= other.at else other

    def extended(self, seconds: float) -> Deadline:
        """The same deadline ``seconds`` later (time spent on something that must
        not count against it, such as a template's first start)."""
        return self if self.at is None else Deadline(self.at + seconds)

    def capped(self, seconds: float) -> float:
        """``seconds``, or less if the deadline comes sooner: for bounded waits."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)

    def poll_ms(self) -> int | None:
        """The remaining time as a ``poll()`` timeout in milliseconds."""
        left = self.remaining()
        return None if left is None else int(left * 1000)


NEVER = Deadline()
