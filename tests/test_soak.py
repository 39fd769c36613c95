"""A short soak: the load-and-chaos promise of benchmarks/soak.py, CI-sized."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from soak import soak


@pytest.mark.slow
def test_500_actions_with_crashes_hangs_and_daemons_keep_every_promise():
    report = soak(500, concurrency=8, seed=7, progress=False)
    assert report.wrong == []
    assert report.checks() == {check: True for check in report.checks()}, report
