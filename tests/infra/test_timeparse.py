"""Client instants: any datetime is a UTC instant the stores hold or a 422 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.errors import ValidationError
from infra.timeparse import EARLIEST, LATEST, optional_utc_instant, utc_instant

OFFSETS = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)


class TestUtcInstant:
    @given(value=st.datetimes(timezones=st.none() | OFFSETS | st.timezones()))
    def test_any_datetime_is_an_instant_in_range_or_a_validation_error(
        self, value: datetime
    ) -> None:
        try:
            instant = utc_instant(value, "start")
        except ValidationError as exc:
            refused: ValidationError | None = exc
        else:
            refused = None
        if refused is not None:
            assert refused.extra["field"] == "start"
            assert refused.status_code == 422
            return
        assert instant.tzinfo is UTC
        assert EARLIEST <= instant <= LATEST
        # Not `==`: Python never finds an ambiguous (DST fold) time equal across zones.
        assert instant - EARLIEST == value - EARLIEST

    @pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
    def test_times_that_overflow_in_utc_are_refused(self, text: str) -> None:
        with pytest.raises(ValidationError, match="between"):
            utc_instant(datetime.fromisoformat(text), "end")

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="timezone"):
            utc_instant(datetime(2026, 1, 1), "from")  # noqa: DTZ001

    def test_the_range_is_that_of_int64_nanoseconds(self) -> None:
        assert utc_instant(LATEST, "t") == LATEST
        assert LATEST.year == 2262
        with pytest.raises(ValidationError):
            utc_instant(LATEST + timedelta(microseconds=1), "t")
        with pytest.raises(ValidationError):
            utc_instant(EARLIEST - timedelta(microseconds=1), "t")

    def test_absent_stays_absent(self) -> None:
        assert optional_utc_instant(None, "start") is None
