"""Orgs and their members."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.errors import NotFoundError
from infra.ids import looks_like_id
from tenancy import audit
from tenancy.authz import require_grantable_role, require_manageable_member
from tenancy.context import TenantContext
from tenancy.errors import LastOwnerError, SlugTakenError
from tenancy.key_lookup import KeyLookup
from tenancy.models import Membership, Org, User
from tenancy.repository import KeyRepository, OrgRepository
from tenancy.roles import Role


async def get_org(session: AsyncSession, context: TenantContext) -> Org:
    """The context's org."""
    org = await OrgRepository(session, context).get()
    if org is None:
        raise NotFoundError("Organization not found")
    return org


async def update_org(
    session: AsyncSession, context: TenantContext, *, name: str | None, slug: str | None
) -> Org:
    """Rename an org or change its slug; audited."""
    org = await get_org(session, context)
    changes = {}
    if name is not None and name != org.name:
        changes["name"] = name
        org.name = name
    if slug is not None and slug != org.slug:
        changes["slug"] = slug
        org.slug = slug
    try:
        await session.flush()
    except IntegrityError:
        raise SlugTakenError(f"The slug {slug!r} is taken", field="slug") from None
    if changes:
        await audit.record(session, context, "org.updated", "org", org.id, **changes)
    return org


async def delete_org(session: AsyncSession, context: TenantContext, lookup: KeyLookup) -> None:
    """Delete an org's rows now and its telemetry in a background job after commit; its keys
    stop working on every process at once (they would otherwise live on in key caches)."""
    org = await get_org(session, context)
    hashes = await KeyRepository(session, context).active_hashes()
    await OrgRepository(session, context).delete(org)
    jobs.enqueue(session, "tenancy.purge_org_telemetry", org.id)
    jobs.after_commit(session, lambda: lookup.publish_invalidation(hashes))


async def list_members(
    session: AsyncSession, context: TenantContext
) -> Sequence[tuple[Membership, User]]:
    """Every member with their user."""
    return await OrgRepository(session, context).members()


async def _membership(session: AsyncSession, context: TenantContext, user_id: str) -> Membership:
    membership = None
    if looks_like_id(user_id, "usr"):
        membership = await OrgRepository(session, context).membership(user_id)
    if membership is None:
        raise NotFoundError("Member not found")
    return membership


async def _guard_role_change(
    repo: OrgRepository, context: TenantContext, target: Membership, new_role: Role | None
) -> None:
    # From the permission table: the caller must hold every permission of the member's current
    # role and of the new one (so only an owner touches owners, only owners and billing managers
    # touch billing managers).
    require_manageable_member(context, Role(target.role))
    if new_role is not None:
        require_grantable_role(context, new_role)
    losing_owner = target.role == Role.OWNER and new_role is not Role.OWNER
    if losing_owner and await repo.owner_count() <= 1:
        raise LastOwnerError("The last owner cannot leave or be demoted; promote another first")


async def change_role(
    session: AsyncSession, context: TenantContext, user_id: str, role: Role
) -> Membership:
    """Change a member's role; the last owner stays an owner."""
    membership = await _membership(session, context, user_id)
    repo = OrgRepository(session, context)
    await _guard_role_change(repo, context, membership, role)
    previous = membership.role
    membership.role = role
    await session.flush()
    await audit.record(
        session, context, "member.role_changed", "user", user_id, old=previous, new=role.value
    )
    return membership


async def remove_member(session: AsyncSession, context: TenantContext, user_id: str) -> None:
    """Remove a member (or leave); the last owner cannot."""
    membership = await _membership(session, context, user_id)
    repo = OrgRepository(session, context)
    leaving = context.actor.type == "user" and context.actor.id == user_id
    if not leaving or membership.role == Role.OWNER:
        await _guard_role_change(repo, context, membership, None)
    await repo.remove_membership(membership)
    await audit.record(session, context, "member.removed", "user", user_id, role=membership.role)
