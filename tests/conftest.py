"""Shared test settings: Hypothesis draws the same examples on every run (deterministic CI)."""

from hypothesis import settings

# Derandomized: a failure reproduces on the next run; no deadline, because CI machines are
# shared and a slow example is not a wrong one.
settings.register_profile("purenet", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("purenet")
