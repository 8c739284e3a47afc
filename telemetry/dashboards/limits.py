"""What one dashboard and one data call may cost (documented in the README)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

MAX_DASHBOARDS_PER_PROJECT: Final = 500
MAX_PANELS: Final = 50
MAX_QUERIES_PER_PANEL: Final = 10
MAX_VARIABLES: Final = 20
MAX_VARIABLE_VALUES: Final = 500
MAX_VERSIONS_LISTED: Final = 200
MAX_SPEC_BYTES: Final = 512 * 1024
GRID_COLUMNS: Final = 24

DEFAULT_MAX_DATA_POINTS: Final = 600
MAX_DATA_POINTS: Final = 2_000
MIN_STEP_SECONDS: Final = 1
MAX_SERIES_PER_QUERY: Final = 100
MAX_POINTS_PER_RESPONSE: Final = 200_000
MAX_LOG_RECORDS: Final = 100
MAX_TRACES: Final = 50
MAX_RANGE: Final = timedelta(days=93)
METRIC_CONCURRENCY: Final = 8
