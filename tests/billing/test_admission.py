"""A key's stored rate limits, whatever was stored: never an error in the gateway (item 13)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.admission import key_rate_limits
from billing.quotas.base import MAX_UNITS, Category, CategoryPolicy, RateLimit

JSON_NUMBERS = st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.booleans()
STORED = st.dictionaries(
    st.sampled_from([*(c.value for c in Category), "bogus"]),
    st.fixed_dictionaries({}, optional={"rate": JSON_NUMBERS | st.text(), "burst": JSON_NUMBERS})
    | st.integers()
    | st.none(),
)


class TestKeyRateLimits:
    @given(raw=STORED)
    def test_any_stored_value_gives_limits_the_kernel_represents(
        self, raw: dict[str, object]
    ) -> None:
        limits = key_rate_limits(raw)
        project = RateLimit(rate=1000.0, burst=10_000)
        for category, limit in limits.items():
            assert category in Category
            assert 1 <= limit.burst <= MAX_UNITS
            CategoryPolicy(rate_limit=limit)  # valid on its own
            if limit.allows_at_most(project):
                CategoryPolicy(rate_limit=project, key_rate_limit=limit)

    @pytest.mark.parametrize("burst", [2**53 + 1, 10**30])
    def test_a_burst_beyond_the_kernel_is_clamped_and_so_never_lowers(self, burst: int) -> None:
        [limit] = key_rate_limits({"logs": {"rate": 10, "burst": burst}}).values()
        assert limit.burst == MAX_UNITS
        assert not limit.allows_at_most(RateLimit(rate=10.0, burst=100))

    def test_what_is_no_limit_is_ignored(self) -> None:
        raw = {
            "logs": {"rate": 0, "burst": 5},
            "spans": {"rate": 5},
            "bogus": {"rate": 1, "burst": 1},
        }
        assert key_rate_limits(raw) == {}
        assert key_rate_limits(None) == {}
