"""The ``action_runner`` pytest fixture, registered through the ``pytest11`` entry point.

Installing mistral-action-host makes it available in every pytest run, so a
plugin package's tests need no conftest::

    def test_greet(action_runner):
        assert action_runner.run(Greet, {"name": "Ann"}).data == "Hello Ann!"

See ``actions_api.testing.ActionRunner`` for what the fixture offers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import ActionRunner


@pytest.fixture
def action_runner() -> Iterator[ActionRunner]:
    """Runs actions in-process with a fresh fake executor and an empty context."""
    yield ActionRunner()
