"""Signup, login, logout and /v1/me."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.auth import CSRF_COOKIE, SESSION_COOKIE, LoggedInUser, client_ip, provide_user
from api.deps import AppResources, DbSession
from api.resources import Resources
from tenancy import accounts, password_reset, verification
from tenancy.errors import TooManyAttemptsError
from tenancy.repository import GlobalOrgRepository, UserRepository
from tenancy.schemas import (
    LoginIn,
    LoginOut,
    MailQueuedOut,
    MeOut,
    OrgOut,
    PasswordResetIn,
    PasswordResetRequestIn,
    ProjectOut,
    SignupIn,
    SignupOut,
    UserOut,
    VerifyEmailIn,
    VerifyEmailOut,
)
from tenancy.throttle import AttemptCounter

RESET_REQUESTED = MailQueuedOut(
    "If an account exists for this address, a link to reset its password is on its way "
    "(valid for one hour)."
)
VERIFICATION_QUEUED = MailQueuedOut("A new verification link is on its way.")
MAIL_WINDOW_SECONDS = 3600
RESENDS_PER_HOUR = 5


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
        account = await UserRepository(db_session).by_id(user.user_id)
        verified_at = account.email_verified_at if account is not None else None
        return MeOut(
            user=UserOut(user.user_id, user.email, user.name, verified_at),
            orgs=[
                OrgOut(o.id, o.slug, o.name, o.status, m.role, o.created_at)
                for o, m in memberships
                if user.sees_org(o.id)
            ],
        )

    @post("/auth/verify-email", operation_id="verify_email", status_code=200)
    async def verify_email(
        self, data: JSONBody[VerifyEmailIn], db_session: DbSession
    ) -> VerifyEmailOut:
        """Prove the account's address with the token of the mailed link (single use)."""
        user = await verification.verify(db_session, data.token)
        return VerifyEmailOut(UserOut(user.id, user.email, user.name), user.email_verified_at)

    @post(
        "/auth/verify-email/resend",
        operation_id="resend_verification_email",
        status_code=HTTP_202_ACCEPTED,
        dependencies={"user": Provide(provide_user)},
    )
    async def resend_verification(
        self, db_session: DbSession, user: LoggedInUser, resources: AppResources
    ) -> MailQueuedOut:
        """Mail the logged-in user a new verification link (a few per hour); 409 if verified."""
        counter = AttemptCounter(resources.redis, MAIL_WINDOW_SECONDS)
        retry_after = await counter.take([(f"tg:throttle:resend:{user.user_id}", RESENDS_PER_HOUR)])
        if retry_after:
            raise TooManyAttemptsError(
                "Too many verification mails; try again later",
                headers={"Retry-After": str(retry_after)},
                retry_after=retry_after,
            )
        await verification.resend(db_session, user.user_id)
        return VERIFICATION_QUEUED

    @post("/auth/password-reset", operation_id="request_password_reset", status_code=202)
    async def request_password_reset(
        self,
        data: JSONBody[PasswordResetRequestIn],
        db_session: DbSession,
        resources: AppResources,
    ) -> MailQueuedOut:
        """Mail a one-hour reset link; the answer is the same whether or not the account exists."""
        counter = AttemptCounter(resources.redis, MAIL_WINDOW_SECONDS)
        await password_reset.request(db_session, counter, data.email)
        return RESET_REQUESTED

    @post(
        "/auth/password-reset/{token:str}",
        operation_id="reset_password",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def reset_password(
        self,
        token: FromPath[str],
        data: JSONBody[PasswordResetIn],
        db_session: DbSession,
        resources: AppResources,
    ) -> None:
        """Set a new password with the mailed token; ends every session of the account."""
        await password_reset.complete(db_session, resources.login_throttle, token, data.password)
