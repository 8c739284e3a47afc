"""Every SQL query of tenancy. Scoped repositories take a TenantContext; Global… ones do not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.context import TenantContext
from tenancy.models import (
    ApiKey,
    AuditEvent,
    Invite,
    Membership,
    Org,
    Project,
    SsoConnection,
    User,
    UserSession,
)
from tenancy.scoping import global_scope


@dataclass(frozen=True)
class KeyRecord:
    """A key as the gateway and authz see it (no secret)."""

    id: str
    org_id: str
    project_id: str | None
    kind: str
    scopes: frozenset[str]
    rate_limits: dict[str, Any] | None
    expires_at: datetime | None
    revoked_at: datetime | None
    is_previous: bool
    previous_valid_until: datetime | None
    org_status: str

    def usable_at(self, now: datetime) -> bool:
        """Not revoked, not expired, and (for a rotated-out secret) inside its grace period."""
        if self.revoked_at is not None or (self.expires_at and self.expires_at <= now):
            return False
        return not self.is_previous or bool(
            self.previous_valid_until and self.previous_valid_until > now
        )


class UserRepository:
    """Users and their sessions (not tenant-owned)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> User | None:
        """A user by lower-cased email."""
        return await self.session.scalar(select(User).where(User.email == email))

    async def by_id(self, user_id: str) -> User | None:
        """A user by id."""
        return await self.session.get(User, user_id)

    async def add(self, user: User) -> None:
        """Insert a user."""
        self.session.add(user)
        await self.session.flush()

    async def add_session(self, user_session: UserSession) -> None:
        """Insert a login session."""
        self.session.add(user_session)
        await self.session.flush()

    async def session_by_hash(self, token_hash: bytes) -> tuple[UserSession, User] | None:
        """A session and its user by the token's hash."""
        row = (
            await self.session.execute(
                select(UserSession, User)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.token_hash == token_hash)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        """End a session."""
        await self.session.execute(
            update(UserSession).where(UserSession.id == session_id).values(revoked_at=at)
        )


class GlobalOrgRepository:
    """Lookups that must run before a tenant is known; RLS limits them to the user's orgs."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def memberships_of(self, user_id: str) -> Sequence[tuple[Org, Membership]]:
        """Every org the user belongs to, with the role (RLS: app.user_id must be bound)."""
        with global_scope(self.session):
            rows = await self.session.execute(
                select(Org, Membership)
                .join(Membership, Membership.org_id == Org.id)
                .where(Membership.user_id == user_id)
                .order_by(Org.created_at)
            )
            return [(row[0], row[1]) for row in rows]

    async def membership(self, user_id: str, org_ref: str) -> tuple[Org, Membership] | None:
        """The user's membership in an org named by id or slug."""
        with global_scope(self.session):
            row = (
                await self.session.execute(
                    select(Org, Membership)
                    .join(Membership, Membership.org_id == Org.id)
                    .where(Membership.user_id == user_id)
                    .where((Org.id == org_ref) | (Org.slug == org_ref))
                )
            ).first()
        return (row[0], row[1]) if row else None

    async def org_by_slug(self, slug: str) -> tuple[str, str] | None:
        """(id, status) of an org by slug, for unauthenticated SSO start."""
        row = (
            await self.session.execute(
                text("SELECT id, status FROM tg_org_by_slug(:s)"), {"s": slug}
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def org_by_ref(self, ref: str) -> tuple[str, str] | None:
        """(id, status) of an org by id or slug, for the operator."""
        row = (
            await self.session.execute(text("SELECT id, status FROM tg_org_by_ref(:r)"), {"r": ref})
        ).first()
        return (row[0], row[1]) if row else None

    async def slug_exists(self, slug: str) -> bool:
        """Whether any org uses this slug."""
        return (await self.org_by_slug(slug)) is not None

    async def sso_for_domain(self, domain: str) -> tuple[str, str, bool] | None:
        """(org id, org slug, enforce) of the SSO connection that claims an email domain."""
        row = (
            await self.session.execute(
                text("SELECT org_id, org_slug, enforce FROM tg_sso_for_domain(:d)"), {"d": domain}
            )
        ).first()
        return (row[0], row[1], row[2]) if row else None

    async def project_org(self, project_id: str) -> str | None:
        """The org that owns a project."""
        value = await self.session.scalar(text("SELECT tg_project_org(:p)"), {"p": project_id})
        return str(value) if value else None


class GlobalKeyRepository:
    """Key lookups by hash across tenants (one SECURITY DEFINER function) and usage writes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lookup(self, secret_hash: bytes) -> KeyRecord | None:
        """The key whose current or previous secret has this hash."""
        row = (
            await self.session.execute(text("SELECT * FROM tg_lookup_key(:h)"), {"h": secret_hash})
        ).first()
        if row is None:
            return None
        return KeyRecord(
            id=row.id,
            org_id=row.org_id,
            project_id=row.project_id,
            kind=row.kind,
            scopes=frozenset(row.scopes),
            rate_limits=row.rate_limits,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            is_previous=bool(row.is_previous),
            previous_valid_until=row.previous_valid_until,
            org_status=row.org_status,
        )

    async def touch(self, used: dict[str, datetime]) -> None:
        """Write last-used times for many keys in one statement (never moves them back)."""
        if used:
            await self.session.execute(
                text("SELECT tg_touch_keys(:ids, :used)"),
                {"ids": list(used), "used": list(used.values())},
            )

    async def invite_by_hash(self, token_hash: bytes) -> dict[str, Any] | None:
        """An invite by its token hash."""
        row = (
            await self.session.execute(
                text("SELECT * FROM tg_lookup_invite(:h)"), {"h": token_hash}
            )
        ).first()
        return dict(row._mapping) if row else None


class OrgRepository:
    """The context's org, its members and its audit log."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(self) -> Org | None:
        """The context's org."""
        return await self.session.scalar(select(Org).where(Org.id == self.context.org_id))

    async def add(self, org: Org) -> None:
        """Insert the context's org (signup / create org)."""
        if org.id != self.context.org_id:
            raise ValueError("an org is created only under its own context")
        self.session.add(org)
        await self.session.flush()

    async def delete(self, org: Org) -> None:
        """Delete the org and, by cascade, everything it owns."""
        await self.session.delete(org)
        await self.session.flush()

    async def members(self) -> Sequence[tuple[Membership, User]]:
        """Members with their users, oldest first."""
        rows = await self.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.org_id == self.context.org_id)
            .order_by(Membership.created_at, Membership.user_id)
        )
        return [(row[0], row[1]) for row in rows]

    async def members_page(
        self, after: str | None, limit: int
    ) -> Sequence[tuple[Membership, User]]:
        """Members with their users by user id, after the cursor user id."""
        query = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.org_id == self.context.org_id)
        )
        if after:
            query = query.where(Membership.user_id > after)
        rows = await self.session.execute(query.order_by(Membership.user_id).limit(limit))
        return [(row[0], row[1]) for row in rows]

    async def membership(self, user_id: str) -> Membership | None:
        """One member's membership."""
        return await self.session.scalar(
            select(Membership).where(
                Membership.org_id == self.context.org_id, Membership.user_id == user_id
            )
        )

    async def add_membership(self, user_id: str, role: str) -> Membership:
        """Make a user a member."""
        membership = Membership(org_id=self.context.org_id, user_id=user_id, role=role)
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def owner_count(self) -> int:
        """How many owners the org has (locks their rows so two demotions can't race)."""
        owners = await self.session.scalars(
            select(Membership.user_id)
            .where(Membership.org_id == self.context.org_id, Membership.role == "owner")
            .with_for_update()
        )
        return len(owners.all())

    async def remove_membership(self, membership: Membership) -> None:
        """Remove a member."""
        await self.session.delete(membership)
        await self.session.flush()

    async def add_audit(self, event: AuditEvent) -> None:
        """Append an audit event."""
        self.session.add(event)
        await self.session.flush()

    async def audit_page(self, before: str | None, limit: int) -> Sequence[AuditEvent]:
        """Audit events newest first, strictly older than the cursor id."""
        query = select(AuditEvent).where(AuditEvent.org_id == self.context.org_id)
        if before:
            query = query.where(AuditEvent.id < before)
        result = await self.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit))
        return result.all()


class ProjectRepository:
    """Projects and their keys in the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(self, project_id: str) -> Project | None:
        """A project of this org."""
        return await self.session.scalar(
            select(Project).where(Project.id == project_id, Project.org_id == self.context.org_id)
        )

    async def page(self, after: str | None, limit: int) -> Sequence[Project]:
        """Projects oldest first, after the cursor id."""
        query = select(Project).where(Project.org_id == self.context.org_id)
        if after:
            query = query.where(Project.id > after)
        return (await self.session.scalars(query.order_by(Project.id).limit(limit))).all()

    async def count(self) -> int:
        """How many projects the org has."""
        value = await self.session.scalar(
            select(func.count()).select_from(Project).where(Project.org_id == self.context.org_id)
        )
        return int(value or 0)

    async def add(self, project: Project) -> None:
        """Insert a project of this org."""
        project.org_id = self.context.org_id
        self.session.add(project)
        await self.session.flush()

    async def delete(self, project: Project) -> None:
        """Delete a project and its keys."""
        await self.session.delete(project)
        await self.session.flush()


class KeyRepository:
    """API keys of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(self, key_id: str, *, project_id: str | None, kind: str) -> ApiKey | None:
        """A key of this org, of one project (project keys) or of the org (org keys)."""
        query = select(ApiKey).where(
            ApiKey.id == key_id, ApiKey.org_id == self.context.org_id, ApiKey.kind == kind
        )
        query = query.where(
            ApiKey.project_id == project_id if project_id else ApiKey.project_id.is_(None)
        )
        return await self.session.scalar(query.with_for_update())

    async def page(
        self, *, project_id: str | None, kind: str, after: str | None, limit: int
    ) -> Sequence[ApiKey]:
        """Keys oldest first, after the cursor id."""
        query = select(ApiKey).where(ApiKey.org_id == self.context.org_id, ApiKey.kind == kind)
        query = query.where(
            ApiKey.project_id == project_id if project_id else ApiKey.project_id.is_(None)
        )
        if after:
            query = query.where(ApiKey.id > after)
        return (await self.session.scalars(query.order_by(ApiKey.id).limit(limit))).all()

    async def page_all(self, after: str | None, limit: int) -> Sequence[ApiKey]:
        """Every key of the org, project and org keys alike, by id after the cursor id."""
        query = select(ApiKey).where(ApiKey.org_id == self.context.org_id)
        if after:
            query = query.where(ApiKey.id > after)
        return (await self.session.scalars(query.order_by(ApiKey.id).limit(limit))).all()

    async def add(self, key: ApiKey) -> None:
        """Insert a key of this org."""
        key.org_id = self.context.org_id
        self.session.add(key)
        await self.session.flush()

    async def active_hashes(self, project_id: str | None = None) -> list[bytes]:
        """Hashes of every secret that may be cached (to evict them on bulk changes)."""
        query = select(ApiKey.secret_hash, ApiKey.previous_hash).where(
            ApiKey.org_id == self.context.org_id
        )
        if project_id:
            query = query.where(ApiKey.project_id == project_id)
        rows = await self.session.execute(query)
        return [h for row in rows for h in row if h is not None]


class InviteRepository:
    """Invites of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def add(self, invite: Invite) -> None:
        """Insert an invite."""
        invite.org_id = self.context.org_id
        self.session.add(invite)
        await self.session.flush()

    async def get_for_update(self, invite_id: str) -> Invite | None:
        """An invite, locked so it is accepted once."""
        return await self.session.scalar(
            select(Invite)
            .where(Invite.id == invite_id, Invite.org_id == self.context.org_id)
            .with_for_update()
        )

    async def page(self, after: str | None, limit: int) -> Sequence[Invite]:
        """Every invite, pending or not, by id after the cursor id."""
        query = select(Invite).where(Invite.org_id == self.context.org_id)
        if after:
            query = query.where(Invite.id > after)
        return (await self.session.scalars(query.order_by(Invite.id).limit(limit))).all()

    async def pending(self, now: datetime) -> Sequence[Invite]:
        """Invites not yet accepted nor expired."""
        result = await self.session.scalars(
            select(Invite)
            .where(Invite.org_id == self.context.org_id, Invite.accepted_at.is_(None))
            .where(Invite.expires_at > now)
            .order_by(Invite.created_at)
        )
        return result.all()


class SsoRepository:
    """The context's org SSO connection."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(self) -> SsoConnection | None:
        """The org's connection, if configured."""
        return await self.session.scalar(
            select(SsoConnection).where(SsoConnection.org_id == self.context.org_id)
        )

    async def save(self, connection: SsoConnection) -> None:
        """Insert or update the connection."""
        connection.org_id = self.context.org_id
        self.session.add(connection)
        await self.session.flush()

    async def delete(self, connection: SsoConnection) -> None:
        """Remove the connection."""
        await self.session.delete(connection)
        await self.session.flush()

    async def lock_domains(self, domains: Sequence[str]) -> None:
        """Serialize claims on these email domains, across orgs, until the transaction ends."""
        for domain in sorted(set(domains)):
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"tg:sso-domain:{domain}"}
            )
