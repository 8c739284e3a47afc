"""Hub integration, inbound: operator-issued hub keys, and org provisioning for a sibling
product's customers (idempotent on the product's external id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.errors import NotFoundError
from infra.ids import looks_like_id, new_id
from tenancy import audit, invites, keys, projects, webhooks
from tenancy.accounts import DEFAULT_PROJECT_NAME, slugify, unique_slug
from tenancy.authz import HubPrincipal, hub_org_context, new_hub_org_context
from tenancy.hub_repository import GlobalHubKeyRepository, GlobalHubOrgRepository
from tenancy.invites import NewInvite
from tenancy.key_lookup import KeyLookup
from tenancy.models import HubKey, HubOrg, Org
from tenancy.orgs import get_org
from tenancy.repository import OrgRepository
from tenancy.roles import Role

INVITE_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class NewHubKey:
    """A hub key row and its secret (shown once)."""

    key: HubKey
    secret: str


async def create_hub_key(
    session: AsyncSession, name: str, product: str, lookup: KeyLookup
) -> NewHubKey:
    """A new hub key for a sibling product; only its hash is stored, and announced after
    commit so no process's negative cache hides it."""
    secret = keys.generate(keys.KeyKind.HUB)
    key = HubKey(
        id=new_id("hbk"),
        name=name,
        product=product,
        prefix=keys.display_prefix(secret),
        secret_hash=keys.digest(secret),
    )
    await GlobalHubKeyRepository(session).add(key)
    announce = [key.secret_hash]
    jobs.after_commit(session, lambda: lookup.publish_invalidation(announce))
    return NewHubKey(key, secret)


async def list_hub_keys(session: AsyncSession) -> Sequence[HubKey]:
    """Every hub key, revoked ones included, oldest first."""
    return await GlobalHubKeyRepository(session).all()


async def revoke_hub_key(session: AsyncSession, key_id: str) -> HubKey:
    """Revoke a hub key (idempotent); hub keys are never cached as usable, so it stops working
    at commit."""
    key = None
    if looks_like_id(key_id, "hbk"):
        key = await GlobalHubKeyRepository(session).get_for_update(key_id)
    if key is None:
        raise NotFoundError("Hub key not found")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await session.flush()
    return key


@dataclass(frozen=True)
class Provisioned:
    """The org of an external id; the key secret and invite only when this call created them."""

    org: Org
    project_id: str | None
    created: bool
    key_secret: str | None = None
    invite: NewInvite | None = None


async def provision(
    session: AsyncSession,
    hub: HubPrincipal,
    *,
    external_id: str,
    org_name: str,
    project_name: str | None,
    email: str | None,
    ip: str | None,
    lookup: KeyLookup,
) -> Provisioned:
    """The org of the hub product's customer `external_id`, created on the first call with a
    project, a project key and (given an email) an owner invite; audited.

    A repeated call returns the same org and project and no secret: keys are shown once. Calls
    for one external id are serialized, and the unique mapping is the backstop.
    """
    mappings = GlobalHubOrgRepository(session)
    await mappings.lock(hub.product, external_id)
    found = await mappings.by_external_id(hub.product, external_id)
    if found is not None:
        context = await hub_org_context(session, hub, found.org_id, ip)
        return Provisioned(await get_org(session, context), found.project_id, created=False)

    org = Org(id=new_id("org"), slug=await unique_slug(session, slugify(org_name)), name=org_name)
    context = await new_hub_org_context(session, hub, org.id, ip)
    await OrgRepository(session, context).add(org)
    await audit.record(session, context, "org.created", "org", org.id, name=org_name, slug=org.slug)
    project = await projects.create_project(session, context, project_name or DEFAULT_PROJECT_NAME)
    new_key = await projects.create_key(
        session,
        context,
        project_id=project.id,
        name=f"{hub.product} (hub)",
        scopes=None,
        expires_at=None,
        rate_limits=None,
        lookup=lookup,
    )
    await mappings.add(
        HubOrg(
            org_id=org.id,
            product=hub.product,
            external_id=external_id,
            project_id=project.id,
            created_by=hub.key_id,
        )
    )
    await audit.record(
        session,
        context,
        "hub.provisioned",
        "org",
        org.id,
        product=hub.product,
        external_id=external_id,
        project_id=project.id,
    )
    # after the mapping, so the product's own subscriptions hear of the org it just made
    await webhooks.emit(session, context, "org.created", webhooks.org_created(org))
    invite = (
        await invites.create_invite(session, context, email, Role.OWNER, INVITE_LIFETIME)
        if email
        else None
    )
    return Provisioned(org, project.id, created=True, key_secret=new_key.secret, invite=invite)
