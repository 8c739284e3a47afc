"""The base of every domain error: it carries its own HTTP status and problem type."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """A domain error mapped once, in the HTTP layer, to an RFC 9457 problem."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class NotFoundError(AppError):
    """A resource that does not exist or belongs to another tenant (never say which)."""

    status_code = 404
    code = "not_found"
    title = "Not found"


class ConflictError(AppError):
    """The request conflicts with the current state (a duplicate, a stale version)."""

    status_code = 409
    code = "conflict"
    title = "Conflict"


class PermissionDeniedError(AppError):
    """Authenticated, but the role or key scope does not allow this."""

    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class UnauthenticatedError(AppError):
    """No valid credentials."""

    status_code = 401
    code = "unauthenticated"
    title = "Unauthenticated"


class ValidationError(AppError):
    """Input that is well-formed but breaks a rule; names the field."""

    status_code = 422
    code = "validation_error"
    title = "Validation failed"


class UnavailableError(AppError):
    """A dependency is down or too slow; the client should retry."""

    status_code = 503
    code = "unavailable"
    title = "Service unavailable"
