"""What can go wrong getting a host from a template, each with its ``ErrorKind``.

The run pipeline turns these into a run's error Result by their ``kind``
(``executor.errors.ExecutorError``); the launcher retries on ``TemplateGone``.
"""

from __future__ import annotations

from executor.errors import ErrorKind, ExecutorError


class TemplateGone(ExecutorError, RuntimeError):
    """The template died or stopped answering; a new one must take over."""

    kind = ErrorKind.HOST_START_FAILED


class ForkOutlived(ExecutorError, TimeoutError):
    """The run's own deadline passed while the template forked its host: the
    run times out, the template (not at fault) keeps serving the others."""

    kind = ErrorKind.TIMEOUT


class HostStartFailed(ExecutorError, RuntimeError):
    """No child could be forked for an environment (its template keeps failing)."""

    kind = ErrorKind.HOST_START_FAILED


class LauncherClosed(ExecutorError, RuntimeError):
    """The executor is closing: no host is started any more."""

    kind = ErrorKind.EXECUTOR_CLOSED
