"""Single sign-on: an org's OIDC connection, and the browser login through its provider."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import Cookie
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.auth import Ctx, client_ip, org_permission
from api.deps import AppResources, DbSession
from api.resources import Resources
from api.routes.auth import session_cookies
from tenancy import sso, sso_domains
from tenancy.roles import Permission
from tenancy.schemas import (
    OrgOut,
    Page,
    SsoConfigIn,
    SsoConfigOut,
    SsoDomainOut,
    SsoLoginOut,
    UserOut,
)

NO_STORE = {"Cache-Control": "no-store"}
# Binds a login's state to the browser that started it; sent only to the callback.
STATE_COOKIE = "tg_sso_state"
Param = Annotated[str | None, QueryParameter(max_length=sso.MAX_PARAM_LENGTH)]


def _state_cookie(resources: Resources, state: str, max_age: int) -> Cookie:
    return Cookie(
        key=STATE_COOKIE,
        value=state,
        max_age=max_age,
        path=sso.CALLBACK_PATH,
        httponly=True,
        secure=resources.settings.base_url.startswith("https://"),
        samesite="lax",  # the provider's redirect back is a top-level GET navigation
    )


def _deps(resources: Resources) -> sso.SsoDeps:
    return sso.SsoDeps(
        redis=resources.redis,
        oidc=resources.oidc,
        secret_box=resources.secret_box,
        base_url=resources.settings.base_url,
    )


class SsoConfigController(Controller):
    """An org's OpenID Connect provider (owners and admins)."""

    path = "/v1/orgs/{org:str}/sso"
    tags = ["sso"]
    dependencies = {"ctx": org_permission(Permission.SSO_MANAGE)}

    @get("/", operation_id="get_sso")
    async def get_sso(
        self, db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> SsoConfigOut:
        """The connection, without its client secret."""
        return await sso.get_config(db_session, ctx, resources.settings.base_url)

    @put("/", operation_id="put_sso")
    async def put_sso(
        self,
        data: JSONBody[SsoConfigIn],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> SsoConfigOut:
        """Create or replace the connection (the provider's discovery is checked first)."""
        return await sso.put_config(db_session, ctx, data, _deps(resources))

    @delete("/", operation_id="delete_sso", status_code=HTTP_204_NO_CONTENT)
    async def delete_sso(self, db_session: DbSession, ctx: Ctx) -> None:
        """Remove the connection."""
        await sso.delete_config(db_session, ctx)

    @get("/domains", operation_id="list_sso_domains")
    async def list_domains(self, db_session: DbSession, ctx: Ctx) -> Page[SsoDomainOut]:
        """The connection's email domains: status, and the TXT record that proves each."""
        return Page(items=await sso_domains.list_claims(db_session, ctx))

    @post("/domains/{domain:str}/verify", operation_id="verify_sso_domain", status_code=200)
    async def verify_domain(
        self,
        domain: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> SsoDomainOut:
        """Look up `_tollgate.<domain>` now; verified when it carries the org's token."""
        return await sso_domains.verify(
            db_session, ctx, domain, resources.settings.domain_verify_nameservers
        )


class SsoLoginController(Controller):
    """The browser's way through the org's identity provider (no credentials needed)."""

    path = "/v1/auth/sso"
    tags = ["auth"]

    @get("/{org_slug:str}/start", operation_id="sso_start", status_code=302)
    async def start(
        self,
        request: Request[Any, Any, Any],
        org_slug: FromPath[str],
        db_session: DbSession,
        resources: AppResources,
        login_hint: Param = None,
        redirect_to: Param = None,
    ) -> Redirect:
        """Redirect to the provider (code flow with PKCE S256, state and nonce)."""
        started = await sso.start(
            db_session,
            _deps(resources),
            org_slug=org_slug,
            login_hint=login_hint,
            redirect_to=redirect_to,
            ip=client_ip(request),
        )
        cookie = _state_cookie(resources, started.state, sso.STATE_TTL_SECONDS)
        return Redirect(path=started.url, status_code=302, headers=NO_STORE, cookies=[cookie])

    @get("/callback", operation_id="sso_callback", status_code=200)
    async def callback(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        resources: AppResources,
        oauth_state: Annotated[
            str | None, QueryParameter(name="state", max_length=sso.MAX_PARAM_LENGTH)
        ] = None,
        code: Param = None,
        iss: Param = None,
        error: Param = None,
    ) -> Response[Any]:
        """The provider's redirect: log in and return a session (JSON and cookies), or go on to
        the `redirect_to` given at start."""
        login = await sso.callback(
            db_session,
            _deps(resources),
            state=oauth_state,
            browser_state=request.cookies.get(STATE_COOKIE),
            code=code,
            iss=iss,
            error=error,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        cookies = [*session_cookies(resources, login.session), _state_cookie(resources, "", 0)]
        if login.redirect_to:
            return Redirect(
                path=login.redirect_to, status_code=302, cookies=cookies, headers=NO_STORE
            )
        user, org = login.user, login.org
        body = SsoLoginOut(
            token=login.session.token,
            expires_at=login.session.expires_at,
            user=UserOut(user.id, user.email, user.name),
            org=OrgOut(org.id, org.slug, org.name, org.status, login.role, org.created_at),
            csrf_token=login.session.csrf_token,
        )
        return Response(body, cookies=cookies, headers=NO_STORE)
