"""``Result``: what an action run ends with (mistral-lib's names and meaning)."""

from __future__ import annotations

from typing import Any

_MAX_REPR = 100


class Result:
    """The outcome of an action: ``data`` on success, ``error`` on failure.

    ``Result()`` with nothing set counts as success with ``data=None``;
    ``cancel=True`` marks a cancelled action whatever else is set.
    """

    __slots__ = ("data", "error", "cancel")

    def __init__(self, data: Any = None, error: Any = None, cancel: bool = False):
        self.data = data
        self.error = error
        self.cancel = cancel

    def is_cancel(self) -> bool:
        return self.cancel

    def is_error(self) -> bool:
        return self.error is not None and not self.cancel

    def is_success(self) -> bool:
        return not self.is_error() and not self.is_cancel()

    def to_dict(self) -> dict[str, Any]:
        """What Mistral stores as the action's output."""
        return {"result": self.data} if self.is_success() else {"result": self.error}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return (self.data, self.error, self.cancel) == (
            other.data,
            other.error,
            other.cancel,
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        def cut(value: Any) -> str:
            text = repr(value)
            return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "..."

        return f"Result(data={cut(self.data)}, error={cut(self.error)}, cancel={self.cancel})"
