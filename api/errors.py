"""Every error leaves as RFC 9457 application/problem+json; no stack trace reaches a client."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from api.middleware import request_context
from infra.errors import AppError
from infra.logging import get_logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://tollgate.dev/problems/"
log = get_logger(__name__)


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """A problem+json response; `code` becomes both the type URI and an extension member."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{code}" if code else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _request_id(request: Request[Any, Any, Any]) -> str:
    return request_context(request.scope).request_id


def app_error_handler(request: Request[Any, Any, Any], exc: AppError) -> Response[dict[str, Any]]:
    """Domain errors carry their own status, code and extensions."""
    return problem(
        exc.status_code,
        exc.detail,
        code=exc.code,
        title=exc.title,
        headers=exc.headers,
        request_id=_request_id(request),
        **exc.extra,
    )


def validation_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Bad bodies and parameters name the offending field."""
    errors = exc.extra if isinstance(exc.extra, list) else []
    fields = [
        {"field": e.get("key"), "source": e.get("source"), "message": e.get("message")}
        for e in errors
        if isinstance(e, dict)
    ]
    detail = exc.detail or "Validation failed"
    if fields and fields[0]["field"]:
        detail = f"{fields[0]['field']}: {fields[0]['message']}"
    return problem(
        400, detail, code="invalid_request", errors=fields, request_id=_request_id(request)
    )


def http_error_handler(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    """Framework errors (404, 405, 413 …) as problems."""
    status = exc.status_code
    detail = (
        exc.detail if exc.detail != HTTPStatus(status).phrase else _default_detail(request, status)
    )
    return problem(status, detail, headers=exc.headers, request_id=_request_id(request))


def _default_detail(request: Request[Any, Any, Any], status: int) -> str:
    if status == 404:
        return f"No resource at {request.url.path}"
    if status == 405:
        return f"{request.method} is not allowed on {request.url.path}"
    return HTTPStatus(status).description or HTTPStatus(status).phrase


def internal_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    """Anything unexpected: logged with its trace, answered with a bare 500."""
    log.exception("request.failed", path=request.url.path, error=type(exc).__name__)
    return problem(
        500,
        "An internal error occurred; it has been logged.",
        request_id=_request_id(request),
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    AppError: app_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
