"""Orgs, members, invites and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import (
    Caller,
    Ctx,
    LoggedInUser,
    OptionalCaller,
    client_ip,
    org_permission,
    provide_optional_principal,
    provide_user,
)
from api.deps import AppResources, DbSession
from infra.errors import NotFoundError, PermissionDeniedError
from tenancy import accounts, audit, invites, orgs
from tenancy.authz import KeyPrincipal, UserPrincipal, org_context
from tenancy.repository import GlobalOrgRepository, UserRepository
from tenancy.roles import Permission, Role
from tenancy.schemas import (
    AuditEventOut,
    InviteAccept,
    InviteCreate,
    InviteOut,
    MemberOut,
    MemberUpdate,
    OrgCreate,
    OrgOut,
    OrgUpdate,
    Page,
    UserOut,
)

Limit = Annotated[int, QueryParameter(ge=1, le=200)]


def _org_out(org: object, role: str | None = None) -> OrgOut:
    return OrgOut(org.id, org.slug, org.name, org.status, role, org.created_at)  # type: ignore[attr-defined]


class OrgController(Controller):
    """Orgs the caller belongs to."""

    path = "/v1/orgs"
    tags = ["orgs"]

    @get("/", operation_id="list_orgs")
    async def list_orgs(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        principal: Caller,
    ) -> Page[OrgOut]:
        """Orgs of the logged-in user (an org key sees its own org)."""
        if isinstance(principal, KeyPrincipal):
            ctx = await org_context(
                db_session,
                principal,
                principal.key.org_id,
                Permission.ORG_READ,
                client_ip(request),
            )
            return Page(items=[_org_out(await orgs.get_org(db_session, ctx))])
        memberships = await GlobalOrgRepository(db_session).memberships_of(principal.user_id)
        return Page(items=[_org_out(o, m.role) for o, m in memberships if principal.sees_org(o.id)])

    @post(
        "/",
        operation_id="create_org",
        status_code=HTTP_201_CREATED,
        dependencies={"user": Provide(provide_user)},
    )
    async def create_org(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[OrgCreate],
        db_session: DbSession,
        user: LoggedInUser,
    ) -> OrgOut:
        """A new org owned by the caller, with a default project."""
        if user.org_scope is not None:
            raise PermissionDeniedError(
                "A single sign-on session acts only in its organization; sign in with your "
                "password to create an organization"
            )
        account = await UserRepository(db_session).by_id(user.user_id)
        if account is None:
            raise NotFoundError("User not found")
        org, _ = await accounts.create_org_for(
            db_session, account, data.name, data.slug, client_ip(request)
        )
        return _org_out(org, Role.OWNER)

    @get(
        "/{org:str}",
        operation_id="get_org",
        dependencies={"ctx": org_permission(Permission.ORG_READ)},
    )
    async def get_org(self, db_session: DbSession, ctx: Ctx) -> OrgOut:
        """One org."""
        return _org_out(await orgs.get_org(db_session, ctx), ctx.role)

    @patch(
        "/{org:str}",
        operation_id="update_org",
        dependencies={"ctx": org_permission(Permission.ORG_UPDATE)},
    )
    async def update_org(
        self, data: JSONBody[OrgUpdate], db_session: DbSession, ctx: Ctx
    ) -> OrgOut:
        """Rename an org or change its slug."""
        org = await orgs.update_org(db_session, ctx, name=data.name, slug=data.slug)
        return _org_out(org, ctx.role)

    @delete(
        "/{org:str}",
        operation_id="delete_org",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": org_permission(Permission.ORG_DELETE)},
    )
    async def delete_org(self, db_session: DbSession, ctx: Ctx, resources: AppResources) -> None:
        """Delete an org, its projects, keys and (in the background) its telemetry."""
        await orgs.delete_org(db_session, ctx, resources.key_lookup)

    @get(
        "/{org:str}/members",
        operation_id="list_members",
        dependencies={"ctx": org_permission(Permission.MEMBERS_READ)},
    )
    async def list_members(self, db_session: DbSession, ctx: Ctx) -> Page[MemberOut]:
        """Every member with their role."""
        rows = await orgs.list_members(db_session, ctx)
        return Page(items=[MemberOut(u.id, u.email, u.name, m.role, m.created_at) for m, u in rows])

    @patch(
        "/{org:str}/members/{user_id:str}",
        operation_id="update_member",
        dependencies={"ctx": org_permission(Permission.MEMBERS_MANAGE)},
    )
    async def update_member(
        self, user_id: FromPath[str], data: JSONBody[MemberUpdate], db_session: DbSession, ctx: Ctx
    ) -> MemberOut:
        """Change a member's role."""
        membership = await orgs.change_role(db_session, ctx, user_id, Role(data.role))
        user = await UserRepository(db_session).by_id(user_id)
        assert user is not None  # noqa: S101 (membership implies the user)
        return MemberOut(user.id, user.email, user.name, membership.role, membership.created_at)

    @delete(
        "/{org:str}/members/{user_id:str}",
        operation_id="remove_member",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": org_permission(Permission.ORG_READ)},
    )
    async def remove_member(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        user_id: FromPath[str],
        db_session: DbSession,
        principal: Caller,
        ctx: Ctx,
    ) -> None:
        """Remove a member, or leave (any member may remove themselves)."""
        leaving = isinstance(principal, UserPrincipal) and principal.user_id == user_id
        if not leaving:
            ctx = await org_context(
                db_session, principal, org, Permission.MEMBERS_MANAGE, client_ip(request)
            )
        await orgs.remove_member(db_session, ctx, user_id)

    @post(
        "/{org:str}/invites",
        operation_id="create_invite",
        status_code=HTTP_201_CREATED,
        dependencies={"ctx": org_permission(Permission.MEMBERS_MANAGE)},
    )
    async def create_invite(
        self,
        data: JSONBody[InviteCreate],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> InviteOut:
        """Invite by email; the token is shown once, to hand to the invitee."""
        created = await invites.create_invite(
            db_session, ctx, data.email, Role(data.role), timedelta(hours=data.expires_in_hours)
        )
        invite = created.invite
        url = f"{resources.settings.base_url}/v1/invites/{created.token}/accept"
        return InviteOut(
            invite.id, invite.email, invite.role, invite.expires_at, created.token, url
        )

    @get(
        "/{org:str}/invites",
        operation_id="list_invites",
        dependencies={"ctx": org_permission(Permission.INVITES_READ)},
    )
    async def list_invites(self, db_session: DbSession, ctx: Ctx) -> Page[InviteOut]:
        """Pending invites."""
        pending = await invites.pending_invites(db_session, ctx)
        return Page(items=[InviteOut(i.id, i.email, i.role, i.expires_at) for i in pending])

    @delete(
        "/{org:str}/invites/{invite_id:str}",
        operation_id="cancel_invite",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": org_permission(Permission.MEMBERS_MANAGE)},
    )
    async def cancel_invite(
        self, invite_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> None:
        """Withdraw a pending invite."""
        await invites.cancel_invite(db_session, ctx, invite_id)

    @get(
        "/{org:str}/audit-log",
        operation_id="audit_log",
        dependencies={"ctx": org_permission(Permission.AUDIT_READ)},
    )
    async def audit_log(
        self,
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[AuditEventOut]:
        """Every change to the org, newest first."""
        events = await audit.page(db_session, ctx, cursor, limit + 1)
        items = [
            AuditEventOut(
                id=e.id,
                action=e.action,
                actor={"type": e.actor_type, "id": e.actor_id},
                target={"type": e.target_type, "id": e.target_id},
                ip=e.ip,
                at=e.at,
                data=e.data,
            )
            for e in events[:limit]
        ]
        return Page(items=items, next_cursor=items[-1].id if len(events) > limit else None)


class InviteController(Controller):
    """Accepting an invite (logged in, or creating the invitee's account)."""

    path = "/v1/invites"
    tags = ["orgs"]

    @post(
        "/{token:str}/accept",
        operation_id="accept_invite",
        status_code=200,
        dependencies={"maybe_principal": Provide(provide_optional_principal)},
    )
    async def accept(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        db_session: DbSession,
        maybe_principal: OptionalCaller,
        data: JSONBody[InviteAccept | None] = None,
    ) -> dict[str, object]:
        """Join the org; without a session, `password` and `name` create the account."""
        if isinstance(maybe_principal, KeyPrincipal):
            raise NotFoundError("Invite not found")
        accepted = await invites.accept_invite(
            db_session,
            token,
            principal=maybe_principal,
            password=data.password if data else None,
            name=data.name if data else None,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        body: dict[str, object] = {
            "org_id": accepted.org_id,
            "user": UserOut(accepted.user.id, accepted.user.email, accepted.user.name),
        }
        if accepted.session:
            body["token"] = accepted.session.token
            body["expires_at"] = accepted.session.expires_at
        return body
