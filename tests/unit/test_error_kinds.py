"""``ErrorKind``: one table for every ``Result.error_type`` (executor.errors)."""

from __future__ import annotations

import re

import executor.errors
from executor.errors import ErrorKind

ROW = re.compile(r"^(?P<kind>[A-Z][A-Za-z]+)\s{2,}(?P<meaning>\S.*)$")


def _documented() -> dict[str, str]:
    """The kind -> meaning rows of the module docstring's table."""
    rows = {}
    for line in (executor.errors.__doc__ or "").splitlines():
        match = ROW.match(line)
        if match and match["kind"] != "kind":
            rows[match["kind"]] = match["meaning"]
    return rows


def test_every_error_kind_is_documented_in_the_module_table():
    assert sorted(_documented()) == sorted(kind.value for kind in ErrorKind)


def test_every_documented_meaning_says_something():
    assert all(len(meaning.split()) >= 3 for meaning in _documented().values())


def test_error_kind_values_are_unique():
    values = [kind.value for kind in ErrorKind]
    assert len(values) == len(set(values))
    assert len(ErrorKind.__members__) == len(ErrorKind)  # no aliases


def test_no_error_kind_reads_like_a_python_builtin_exception():
    import builtins

    assert [kind.value for kind in ErrorKind if hasattr(builtins, kind.value)] == []


def test_an_error_kind_is_its_wire_string():
    wire: str = "Timeout"  # what a program reading Result.error_type compares with
    assert ErrorKind.TIMEOUT == wire
    assert f"{ErrorKind.QUEUE_FULL}" == "QueueFull"
    assert ErrorKind("ActionNotFound") is ErrorKind.ACTION_NOT_FOUND
