"""Tenancy's domain errors; each carries its HTTP status."""

from __future__ import annotations

from infra.errors import AppError, ConflictError, PermissionDeniedError, UnauthenticatedError


class EmailTakenError(ConflictError):
    """An account with this email exists."""

    code = "email_taken"
    title = "Email already registered"


class SlugTakenError(ConflictError):
    """Another org uses this slug."""

    code = "slug_taken"
    title = "Slug already taken"


class InvalidCredentialsError(UnauthenticatedError):
    """Wrong email or password (never says which)."""

    code = "invalid_credentials"
    title = "Invalid credentials"


class TooManyAttemptsError(AppError):
    """Login throttled after repeated failures."""

    status_code = 429
    code = "too_many_attempts"
    title = "Too many attempts"


class SsoRequiredError(PermissionDeniedError):
    """The user's domain enforces SSO; password login is refused."""

    code = "sso_required"
    title = "Single sign-on required"


class LastOwnerError(ConflictError):
    """An org must keep at least one owner."""

    code = "last_owner"
    title = "An org needs an owner"


class CsrfError(PermissionDeniedError):
    """A cookie-authenticated unsafe request without the matching CSRF token."""

    code = "csrf_failed"
    title = "CSRF check failed"


class InviteInvalidError(AppError):
    """The invite is unknown, used or expired."""

    status_code = 410
    code = "invite_invalid"
    title = "Invite no longer valid"


class SsoError(AppError):
    """The identity provider's answer was refused."""

    status_code = 400
    code = "sso_failed"
    title = "Single sign-on failed"


class SsoDomainNotAllowedError(PermissionDeniedError):
    """The identity provider vouched for an email outside the connection's domains."""

    code = "sso_domain_not_allowed"
    title = "Email domain not allowed"


class SsoDomainTakenError(ConflictError):
    """Another org's SSO connection already claims this email domain."""

    code = "sso_domain_taken"
    title = "Domain already claimed"
