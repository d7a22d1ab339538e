"""Shared test settings: deterministic Hypothesis, and the real data sets' folder."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Derandomized: a failure reproduces on the next run; no deadline, because CI machines are
# shared and a slow example is not a wrong one.
settings.register_profile("purenet", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("purenet")


@pytest.fixture
def data_dir() -> Path:
    """The real data sets' folder, `$PURENET_DATA_DIR`; the test is skipped without it."""
    folder = os.environ.get("PURENET_DATA_DIR")
    if not folder:
        pytest.skip("PURENET_DATA_DIR is not set: this test needs the real data (../shared/data)")
    return Path(folder)
