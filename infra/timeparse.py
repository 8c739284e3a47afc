"""Client-supplied instants, checked once: timezone-aware, within what Tollgate stores, as UTC.

`9999-12-31T23:59:59-14:00` parses as a datetime but is past year 9999 in UTC, so converting it
(PostgreSQL, arithmetic with `now`) overflows; `0001-01-01T00:00:00+14:00` is before year 1.
Every instant a client sends goes through `utc_instant`, which refuses both with a 422 naming
the field instead. The range is that of the stores: telemetry times are int64 nanoseconds
(1970 to 2262-04-11).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from infra.errors import ValidationError

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = EARLIEST + timedelta(microseconds=(2**63 - 1) // 1000)
"""2262-04-11T23:47:16.854775Z: the last instant of int64 nanoseconds since the epoch."""


def utc_instant(value: datetime, field: str) -> datetime:
    """`value` in UTC; ValidationError (naming `field`) when naive or outside 1970..2262."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{field} must carry a timezone (e.g. 'Z')", field=field)
    # Compare before converting: the conversion itself is what overflows at the edges.
    if not EARLIEST <= value <= LATEST:
        raise ValidationError(
            f"{field} must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}",
            field=field,
        )
    return value.astimezone(UTC)


def optional_utc_instant(value: datetime | None, field: str) -> datetime | None:
    """`utc_instant` of a value that may be absent."""
    return None if value is None else utc_instant(value, field)
