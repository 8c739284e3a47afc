"""Request and response bodies of the tenancy API (msgspec Structs, unknown fields refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

# PostgreSQL text cannot hold NUL: refuse it as a 400 instead of failing the insert with a 500.
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=NO_NUL)]
Password = Annotated[str, msgspec.Meta(min_length=10, max_length=256)]
Slug = Annotated[str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
RoleName = Literal["owner", "admin", "member", "viewer", "billing"]
ScopeName = Literal[
    "metrics:write",
    "logs:write",
    "traces:write",
    "metrics:read",
    "logs:read",
    "traces:read",
    "project:admin",
    "org:admin",
    "billing:read",
    "billing:write",
]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are an error, not silently ignored."""


class SignupIn(Input):
    email: Email
    password: Password
    name: Name
    org_name: Name


class LoginIn(Input):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    cookie: bool = False


class UserOut(msgspec.Struct):
    id: str
    email: str
    name: str | None = None
    # set by /v1/me (the console's "verify your address" banner); other answers omit it
    email_verified_at: datetime | msgspec.UnsetType | None = msgspec.UNSET


class OrgOut(msgspec.Struct):
    id: str
    slug: str
    name: str
    status: str = "active"
    role: str | None = None
    created_at: datetime | None = None


class ProjectOut(msgspec.Struct):
    id: str
    name: str
    org_id: str | None = None
    created_at: datetime | None = None


class SignupOut(msgspec.Struct):
    user: UserOut
    org: OrgOut
    project: ProjectOut
    token: str
    expires_at: datetime


class LoginOut(msgspec.Struct):
    token: str
    expires_at: datetime
    csrf_token: str | None = None


class MeOut(msgspec.Struct):
    user: UserOut
    orgs: list[OrgOut]


class OrgCreate(Input):
    name: Name
    slug: Slug | None = None


class OrgUpdate(Input):
    name: Name | None = None
    slug: Slug | None = None


class MemberOut(msgspec.Struct):
    user_id: str
    email: str
    name: str
    role: str
    joined_at: datetime


class MemberUpdate(Input):
    role: RoleName


class InviteCreate(Input):
    email: Email
    role: RoleName = "member"
    expires_in_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 72


class InviteOut(msgspec.Struct):
    id: str
    email: str
    role: str
    expires_at: datetime
    token: str | None = None
    accept_url: str | None = None


class InviteAccept(Input):
    password: Password | None = None
    name: Name | None = None


MailedToken = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]


class VerifyEmailIn(Input):
    token: MailedToken


class VerifyEmailOut(msgspec.Struct):
    user: UserOut
    email_verified_at: datetime | None


class PasswordResetRequestIn(Input):
    email: Email


class PasswordResetIn(Input):
    password: Password


class MailQueuedOut(msgspec.Struct):
    detail: str


class ProjectCreate(Input):
    name: Name


class ProjectUpdate(Input):
    name: Name


MAX_RATE_UNITS = 2**53
"""The largest rate or burst the quota kernel represents exactly (billing.quotas MAX_UNITS)."""


class RateLimitIn(Input):
    rate: Annotated[float, msgspec.Meta(gt=0, le=MAX_RATE_UNITS)]
    burst: Annotated[int, msgspec.Meta(ge=1, le=MAX_RATE_UNITS)]


class KeyCreate(Input):
    name: Name
    scopes: Annotated[list[ScopeName], msgspec.Meta(max_length=16)] | None = None
    expires_at: datetime | None = None
    rate_limits: dict[Literal["metrics", "logs", "traces", "spans"], RateLimitIn] | None = None


class KeyRotate(Input):
    grace_period_seconds: Annotated[int, msgspec.Meta(ge=0, le=30 * 86400)] = 86400


class KeyOut(msgspec.Struct):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    kind: str
    project_id: str | None = None
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    key: str | None = None
    previous_valid_until: datetime | None = None


class SsoConfigIn(Input):
    """An org's OIDC provider; `client_secret` may be left out to keep the stored one."""

    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    domains: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=253)]],
        msgspec.Meta(min_length=1, max_length=50),
    ]
    issuer: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    discovery_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    client_secret: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)] | None = None
    enforce: bool = False
    default_role: Literal["admin", "member", "viewer", "billing"] = "member"


class SsoDomainOut(msgspec.Struct):
    """An SSO email domain: `pending` until the TXT record `record_name` = `record_value` is
    found by POST …/sso/domains/{domain}/verify."""

    domain: str
    status: Literal["pending", "verified"]
    record_type: str
    record_name: str
    record_value: str
    verified_at: datetime | None
    checked_at: datetime | None


class SsoConfigOut(msgspec.Struct):
    issuer: str
    discovery_url: str
    client_id: str
    domains: list[str]
    enforce: bool
    default_role: str
    start_url: str
    redirect_uri: str
    updated_at: datetime
    domain_proofs: list[SsoDomainOut] = msgspec.field(default_factory=list)


class SsoLoginOut(msgspec.Struct):
    token: str
    expires_at: datetime
    user: UserOut
    org: OrgOut
    csrf_token: str | None = None


class AuditEventOut(msgspec.Struct):
    id: str
    action: str
    actor: dict[str, str | None]
    target: dict[str, str | None]
    ip: str | None
    at: datetime
    data: dict[str, object]


T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    """A cursor-paginated list."""

    items: list[T]
    next_cursor: str | None = None


class WebhookCreate(Input):
    """A webhook endpoint: where to POST, and which event types (`*` for every one)."""

    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=NO_NUL)]
    event_types: list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]] = msgspec.field(
        default_factory=lambda: ["*"]
    )


class WebhookOut(msgspec.Struct, kw_only=True):
    id: str
    url: str
    event_types: list[str]
    disabled: bool
    created_at: datetime | None = None


class WebhookCreated(WebhookOut, kw_only=True):
    """The endpoint with its signing secret, shown in the creation response only."""

    secret: str


class WebhookDeliveryOut(msgspec.Struct):
    id: str
    event_id: str
    event_type: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime | None


Product = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
]
ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]


class HubKeyCreate(Input):
    name: Name
    product: Product


class HubKeyOut(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    product: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    key: str | None = None


class HubProvisionIn(Input):
    external_id: ExternalId
    org_name: Name
    project_name: Name | None = None
    email: Email | None = None


class HubOrgRef(msgspec.Struct):
    id: str
    slug: str


class HubProjectRef(msgspec.Struct):
    id: str | None


class HubProvisionOut(msgspec.Struct, omit_defaults=True):
    """`key` and `invite` only on the call that created the org: secrets are shown once."""

    org: HubOrgRef
    project: HubProjectRef
    key: str | None = None
    invite: InviteOut | None = None


class HubSubscriptionOut(msgspec.Struct, kw_only=True):
    id: str
    url: str
    event_types: list[str]
    created_at: datetime | None = None


class HubSubscriptionCreated(HubSubscriptionOut, kw_only=True):
    """The subscription with its signing secret, shown in the creation response only."""

    secret: str


class HubDeliveryOut(WebhookDeliveryOut, kw_only=True):
    org_id: str
