"""``ErrorKind``: every ``Result.error_type`` the executor returns, in one table.

(A nested call refused for depth is the protocol's ``NestingTooDeep`` error:
the calling action gets an error ``Result`` naming the chain and the limit,
and no run, so no ``Result`` of the executor's, exists for it.)

``error_type`` is public: programs (and the Mistral service) branch on it,
so each kind has one meaning. The action's own exception type, when it
raised one, is in ``Result.exception`` (e.g. ``"ValueError"``).

=====================  ==================================================
kind                   meaning
=====================  ==================================================
ActionError            the action returned an error ``Result``
ActionRaised           the action raised (``Result.exception`` names the type)
ActionNotFound         no environment provides an action of that name
ActionLoadError        the action's entry point cannot be imported
InvalidInput           parameters missing, unexpected, too large or unsendable
InvalidContext         the context is not a valid ``ActionContext``
ResultTooLarge         the result exceeds ``max_result_size``
NotSerializable        the result holds a value that cannot cross processes
Timeout                the deadline passed; the action and its processes were killed
MemoryLimitExceeded    the action's processes used more memory than its limit, so the
                       kernel killed them (the message names the limit and the peak)
Cancelled              the calling action ended, so this nested run was stopped
HostCrashed            the host process died before answering
HostStartFailed        no host could be started for the action's environment
ProtocolError          the host broke the protocol and was killed
VersionMismatch        the environment's runtime speaks another protocol version
QueueFull              the executor's queue is full; retry later
ExecutorClosed         the executor was shut down before the run ended
CatalogUnavailable     the environments could not be listed
=====================  ==================================================
"""

from __future__ import annotations

import enum


class ErrorKind(enum.StrEnum):
    ACTION_ERROR = "ActionError"
    ACTION_RAISED = "ActionRaised"
    ACTION_NOT_FOUND = "ActionNotFound"
    ACTION_LOAD_ERROR = "ActionLoadError"
    INVALID_INPUT = "InvalidInput"
    INVALID_CONTEXT = "InvalidContext"
    RESULT_TOO_LARGE = "ResultTooLarge"
    NOT_SERIALIZABLE = "NotSerializable"
    TIMEOUT = "Timeout"
    MEMORY_LIMIT_EXCEEDED = "MemoryLimitExceeded"
    CANCELLED = "Cancelled"
    HOST_CRASHED = "HostCrashed"
    HOST_START_FAILED = "HostStartFailed"
    PROTOCOL_ERROR = "ProtocolError"
    VERSION_MISMATCH = "VersionMismatch"
    QUEUE_FULL = "QueueFull"
    EXECUTOR_CLOSED = "ExecutorClosed"
    CATALOG_UNAVAILABLE = "CatalogUnavailable"


class ExecutorError(Exception):
    """The root of the executor's own exceptions: each names the ``ErrorKind``
    a run that meets it ends with, so the run pipeline maps them in one
    ``except`` instead of guessing from the state around it.

    A subclass sets ``kind``; an instance may narrow it (a host session that
    failed by timeout is a ``TIMEOUT``, by a broken frame a ``PROTOCOL_ERROR``).
    Subclasses keep their older stdlib base too (``RuntimeError``,
    ``LookupError``, ...), so code that caught those still does.
    """

    kind: ErrorKind = ErrorKind.HOST_START_FAILED
