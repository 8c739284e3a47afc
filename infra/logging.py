"""JSON logs through structlog, with request id, org and project bound per request."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import structlog

_SECRET_FIELDS = frozenset({"password", "token", "key", "secret", "authorization", "api_key"})
REDACTED = "[redacted]"
# Every Tollgate secret carries a prefix: keys and tokens `tg?_…` (tgp_ tgo_ tgs_ tgh_ tga_, and
# the mailed tgi_ tgv_ tgr_), webhook signing secrets `whsec_…`. Removed wherever they appear.
_TOKEN_SHAPED = re.compile(r"(?:\btg[a-z]_|\bwhsec_)[A-Za-z0-9_\-+/=.~%]{8,}")
# A value in a URL's query string (`?code=…&state=…`), wherever a URL is quoted in a message.
_QUERY_VALUE = re.compile(r"(?<=[?&])([\w.\-\[\]]+)=[^&\s\"'#]+")
# Routes whose path carries a secret: the segment after the prefix, whatever it looks like
# (invite tokens made before they had a prefix, a client's typo of a token).
_SECRET_SEGMENT_ROUTES = (
    re.compile(r"^(/v1/invites/)[^/]+"),
    re.compile(r"^(/v1/auth/password-reset/)[^/]+"),
)


def _redact(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """Blank out fields whose names say they hold secrets."""
    for name in event.keys() & _SECRET_FIELDS:
        event[name] = "[redacted]"
    return event


def scrub(text: str) -> str:
    """The text with every token-shaped substring and every URL query value replaced."""
    return _QUERY_VALUE.sub(rf"\1={REDACTED}", _TOKEN_SHAPED.sub(REDACTED, text))


def redact_path(path: str) -> str:
    """A URL path fit for a log line: secret segments of known routes and token shapes removed."""
    for route in _SECRET_SEGMENT_ROUTES:
        path = route.sub(lambda match: match.group(1) + REDACTED, path, count=1)
    return "/".join(
        REDACTED if _TOKEN_SHAPED.search(segment) else segment for segment in path.split("/")
    )


def redact_query(query: str) -> str:
    """A query string with its parameter names kept and every value replaced."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{scrub(name)}={REDACTED if value else ''}" for name, value in pairs)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def _scrub_secrets(
    _: object, __: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Last line of defence: no token-shaped text in any field, message or traceback."""
    for name, value in event.items():
        if name == "path" and isinstance(value, str):
            event[name] = redact_path(value)
        else:
            event[name] = _scrubbed(value)
    return event


def configure_logging(level: str = "INFO") -> None:
    """Route stdlib and structlog records to one JSON stream on stderr."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _scrub_secrets,  # after format_exc_info, so tracebacks are scrubbed too
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO (an outbound webhook or IdP URL can hold a secret).
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named after its module."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
