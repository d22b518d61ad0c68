"""A short run of bench/load.py: two server processes on PostgreSQL under ingestion, reads,
a campaign and erasures at once; every invariant the benchmark checks must hold (nothing
acknowledged lost, no erased person's data beyond their certificate, no deadlock, no 5xx,
the audit chain intact). The figures are not asserted: this is not a timed test."""

from __future__ import annotations

import pytest
from bench import load
from bench._common import postgres_url

pytestmark = pytest.mark.postgres


def test_a_short_mixed_load_keeps_every_invariant() -> None:
    if postgres_url() is None:
        pytest.skip("SAFEHOLD_TEST_POSTGRES_URL not set")
    result = load.run(seconds=3, people=30)
    assert result.problems == []
    for name in load.OPERATIONS:
        assert result.mixed[name].samples, f"no {name} ran under mixed load"
    assert {s for op in result.mixed.values() for s in op.statuses} <= {200, 201, 202}
