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


class SsoDomainUnverifiedError(PermissionDeniedError):
    """The org has not proven the email domain an identity provider vouched for."""

    code = "sso_domain_unverified"
    title = "Email domain not verified"


class SsoAccountUnverifiedError(PermissionDeniedError):
    """An existing account whose email is not proven cannot be linked to an identity provider."""

    code = "sso_account_unverified"
    title = "Account email not verified"


class DomainProofMissingError(AppError):
    """The DNS TXT record that proves a domain was not found."""

    status_code = 422
    code = "domain_proof_missing"
    title = "Domain not proven"


class EmailUnverifiedError(PermissionDeniedError):
    """The account's email is not proven yet, and this action needs it to be."""

    code = "email_unverified"
    title = "Email not verified"


class EmailTokenInvalidError(AppError):
    """A mailed verification or reset token is unknown, used or expired."""

    status_code = 410
    code = "token_invalid"
    title = "Link no longer valid"


class AlreadyVerifiedError(ConflictError):
    """The account's email is already verified."""

    code = "already_verified"
    title = "Email already verified"
