"""Signup, login, logout and /v1/me."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import CSRF_COOKIE, SESSION_COOKIE, LoggedInUser, client_ip, provide_user
from api.deps import AppResources, DbSession
from api.resources import Resources
from tenancy import accounts
from tenancy.repository import GlobalOrgRepository
from tenancy.schemas import (
    LoginIn,
    LoginOut,
    MeOut,
    OrgOut,
    ProjectOut,
    SignupIn,
    SignupOut,
    UserOut,
)


def session_cookies(resources: Resources, issued: accounts.IssuedSession) -> list[Cookie]:
    secure = resources.settings.base_url.startswith("https://")
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=issued.token,
            httponly=True,
            secure=secure,
            samesite="lax",
            expires=int(issued.expires_at.timestamp()),
            path="/",
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=issued.csrf_token,
            httponly=False,
            secure=secure,
            samesite="lax",
            expires=int(issued.expires_at.timestamp()),
            path="/",
        ),
    ]


class AuthController(Controller):
    """Accounts and sessions."""

    path = "/v1"
    tags = ["auth"]

    @post("/auth/signup", operation_id="signup", status_code=HTTP_201_CREATED)
    async def signup(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignupIn],
        db_session: DbSession,
        resources: AppResources,
    ) -> SignupOut:
        """Create a user, their org and a default project; returns a session token."""
        user, org, project, issued = await accounts.signup(
            db_session,
            email=data.email,
            password=data.password,
            name=data.name,
            org_name=data.org_name,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        return SignupOut(
            user=UserOut(user.id, user.email, user.name),
            org=OrgOut(org.id, org.slug, org.name, org.status, "owner"),
            project=ProjectOut(project.id, project.name, org.id),
            token=issued.token,
            expires_at=issued.expires_at,
        )

    @post("/auth/login", operation_id="login", status_code=200)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginIn],
        db_session: DbSession,
        resources: AppResources,
    ) -> Response[LoginOut]:
        """Password login; `cookie: true` also sets an HttpOnly session cookie and a CSRF token."""
        issued = await accounts.login(
            db_session,
            resources.login_throttle,
            email=data.email,
            password=data.password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            base_url=resources.settings.base_url,
        )
        body = LoginOut(issued.token, issued.expires_at, issued.csrf_token if data.cookie else None)
        cookies = session_cookies(resources, issued) if data.cookie else []
        return Response(body, cookies=cookies)

    @post(
        "/auth/logout",
        operation_id="logout",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"user": Provide(provide_user)},
    )
    async def logout(self, db_session: DbSession, user: LoggedInUser) -> Response[None]:
        """End this session (and clear its cookies)."""
        await accounts.logout(db_session, user)
        return Response(
            None,
            status_code=HTTP_204_NO_CONTENT,
            cookies=[
                Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/"),
                Cookie(key=CSRF_COOKIE, value="", max_age=0, path="/"),
            ],
        )

    @get("/me", operation_id="me", dependencies={"user": Provide(provide_user)})
    async def me(self, db_session: DbSession, user: LoggedInUser) -> MeOut:
        """The logged-in user and the orgs they belong to, with their role."""
        memberships = await GlobalOrgRepository(db_session).memberships_of(user.user_id)
        return MeOut(
            user=UserOut(user.user_id, user.email, user.name),
            orgs=[
                OrgOut(o.id, o.slug, o.name, o.status, m.role, o.created_at) for o, m in memberships
            ],
        )
