"""Hypothesis profiles, chosen with the ``HYPOTHESIS_PROFILE`` environment variable.

- ``ci`` (the default): derandomized, 40 examples per test, no example database, so every
  run tests the same examples and a failure reproduces on any machine. No per-example
  deadline: CI machines are noisy and a slow example is not a failure.
- ``thorough``: for local runs before a change to a model: random examples (a new set each
  run, failures saved in ``.hypothesis/`` and replayed first next time), 500 per test.
  ``HYPOTHESIS_PROFILE=thorough python -m pytest -p no:randomly tests/test_invariants.py``
  takes a few minutes.
"""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, max_examples=40, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", deadline=None, max_examples=500, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items):
    """A hypothesis test times out by thread, not by signal: hypothesis would catch the
    signal's exception as a failing example and go on shrinking without a timeout."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.timeout(method="thread"))
