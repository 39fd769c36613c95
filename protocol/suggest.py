"""The known names a mistyped one was probably meant to be.

A refused name (an unknown action, an unknown context field) is more useful
with the nearest known ones in the same message: the fix is in it. In
protocol, the one package the executor and the hosts may both import;
stdlib only, so either may. (actions_api imports no package of ours, so
``actions_api.testing`` keeps its own two lines.)
"""

from __future__ import annotations

from collections.abc import Sequence


def close_names(
    name: str, known: Sequence[str], n: int = 1, *, prefixes: bool = False
) -> list[str]:
    """Up to ``n`` known names close to ``name``, the closest first.

    ``prefixes``: a known name that starts ``name`` or that ``name`` starts
    comes before any other (``user_name`` for ``user``), in ``known``'s order.
    """
    import difflib  # only when a name is refused: ~2 ms a command's start need not pay

    close = difflib.get_close_matches(name, known, n=n)
    if prefixes:
        starts = [k for k in known if k.startswith(name) or name.startswith(k)]
        close = list(dict.fromkeys(starts + close))
    return close[:n]


def did_you_mean(name: str, known: Sequence[str], n: int = 1, *, prefixes: bool = False) -> str:
    """``"; did you mean a, b?"`` (``close_names``) to end a refusal, or ``""``."""
    close = close_names(name, known, n, prefixes=prefixes)
    return f"; did you mean {', '.join(close)}?" if close else ""
