"""The budget of the suite's fuzz tests: fixed and derandomized in CI (the same
examples every run); ``RECIST_FUZZ_EXAMPLES=N`` runs N randomized examples per test
instead, for a longer campaign on a workstation."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CAMPAIGN = int(os.environ.get("RECIST_FUZZ_EXAMPLES", "0"))


def budget(n: int) -> settings:
    """``n`` derandomized examples (CI), or the campaign's randomized ones."""
    return settings(
        max_examples=CAMPAIGN or n,
        derandomize=not CAMPAIGN,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
