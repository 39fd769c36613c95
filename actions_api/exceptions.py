"""Exceptions for action authors (names as in mistral-lib)."""

from __future__ import annotations


class ActionException(Exception):
    """Raise this to fail an action with a message the workflow can read.

    Any exception fails the action; this one says "expected failure" and its
    message is shown as is, without a traceback in the error text.
    """

    message = "Failed to process an action"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class SerializationError(TypeError):
    """A value cannot cross the process boundary; the message names its path."""
