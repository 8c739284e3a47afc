"""Body limits shared by every data-plane endpoint."""

from __future__ import annotations

MAX_BODY_BYTES = 10 * 1024 * 1024
"""A request body as sent (compressed or not)."""

MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
"""A request body once decompressed."""
