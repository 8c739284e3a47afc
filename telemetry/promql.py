"""Query isolation: client arguments are decoded for real and VictoriaMetrics' own tenancy
arguments are dropped, so the only `extra_label`s a query carries are the gateway's."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

# extra_filters combine as OR(filter AND extra_label): one from a client would escape the tenant.
FORBIDDEN_KEYS = frozenset({"extra_label", "extra_filters", "extra_filters[]"})
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_ARGS = 1000


class QueryArgsError(ValueError):
    """Query arguments that cannot be decoded."""


def client_args(query_string: bytes, form_body: bytes | None) -> list[tuple[str, str]]:
    """Client arguments from the URL and a form body, percent-decoded, minus forbidden keys."""
    pairs: list[tuple[str, str]] = []
    for raw in (query_string, form_body or b""):
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
            decoded = parse_qsl(
                text,
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=MAX_ARGS,
                errors="strict",
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise QueryArgsError(f"query arguments: {exc}") from None
        pairs.extend(decoded)
    return [(k, v) for k, v in pairs if k.strip() not in FORBIDDEN_KEYS]


def scoped_args(
    query_string: bytes, form_body: bytes | None, org_id: str, project_id: str
) -> list[tuple[str, str]]:
    """Client arguments plus the two `extra_label`s that pin the query to one project."""
    return [
        *client_args(query_string, form_body),
        ("extra_label", f"tenant={org_id}"),
        ("extra_label", f"project={project_id}"),
    ]
