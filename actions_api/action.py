"""The base class of all actions.

An action's *input parameters* are the keyword arguments of its ``__init__``
(as in mistral-lib): the executor reads that signature to validate a request
before anything runs, then builds the action with ``cls(**params)`` inside a
sandboxed host and calls ``run(context)``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import ActionContext


class Action(abc.ABC):
    """Subclass this and implement ``run``.

    ``run`` may:

    * return a plain value: the action succeeds with it as ``Result.data``;
    * return a ``Result``: ``Result(error=...)`` fails the action with that
      error, which ``on-error`` workflow logic can read;
    * raise an exception (``ActionException`` for expected failures): the
      action fails with the exception's type and message; the traceback goes
      to the action's log.

    Asynchronous actions (``is_sync()`` False) only *start* work in ``run``;
    the result arrives later through Mistral's API, so their return value is
    ignored unless it is an error ``Result``.
    """

    @abc.abstractmethod
    def run(self, context: ActionContext) -> Any:
        """Do the work; see the class docstring for what to return."""

    def test(self, context: ActionContext) -> Any:
        """Dry run: say what ``run`` would do, without doing it.

        The default describes the call; override it to check inputs or
        reachability without side effects.
        """
        from .secrets import mask

        params = mask({k: v for k, v in vars(self).items() if not k.startswith("_")})
        return {
            "dry_run": True,
            "action": f"{type(self).__module__}.{type(self).__qualname__}",
            "would_run_with": params,
        }

    def is_sync(self) -> bool:
        """True if ``run`` returns the result; False if it arrives later."""
        return True
