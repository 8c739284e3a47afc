"""Who is calling: bearer sessions and keys, the session cookie with its CSRF token, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from api.auth import CSRF_COOKIE, SESSION_COOKIE
from api.resources import Resources
from infra.settings import Settings
from tenancy import keys
from tests.support.asgi import app_client
from tests.support.smtp import Mailbox
from tests.support.tenancy import bearer, org_key, use_fast_password_hashing, verify_email
from tests.support.tenants import Tenant, project_key, sign_up


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "authn")


async def _cookie_login(client: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    response = await client.post(
        "/v1/auth/login",
        json={"email": tenant.email, "password": tenant.password, "cookie": True},
    )
    assert response.status_code == 200, response.text
    return response


def _set_cookie(response: httpx.Response, name: str) -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


class TestPrincipals:
    async def test_a_session_token_as_bearer_is_the_user(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.get("/v1/me", headers=owner.auth)
        assert response.status_code == 200
        assert response.json()["user"]["id"] == owner.user_id

    async def test_the_bearer_scheme_is_case_insensitive(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.get("/v1/me", headers={"Authorization": f"bearer {owner.token}"})
        assert response.status_code == 200

    async def test_an_org_key_as_bearer_or_x_api_key(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        secret = (await org_key(client, owner, ["org:admin"]))["key"]
        for headers in (bearer(secret), {"X-API-Key": secret}):
            response = await client.get(f"/v1/orgs/{owner.org_id}", headers=headers)
            assert response.status_code == 200, headers

    async def test_keys_cannot_use_endpoints_for_people(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        for secret in (
            (await org_key(client, owner, ["org:admin"]))["key"],
            (await project_key(client, owner))["key"],
        ):
            assert (await client.get("/v1/me", headers=bearer(secret))).status_code == 401
            logout = await client.post("/v1/auth/logout", headers=bearer(secret))
            assert logout.status_code == 401

    async def test_bearer_wins_over_a_cookie(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await _cookie_login(client, owner)
        other = await sign_up(client, "other")
        response = await client.post(
            f"/v1/orgs/{other.org_id}/projects", json={"name": "x"}, headers=other.auth
        )
        assert response.status_code == 201  # bearer requests need no CSRF token


class TestCsrfCookieFlow:
    async def test_cookie_login_sets_an_httponly_session_cookie_and_a_readable_csrf_cookie(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await _cookie_login(client, owner)
        body = response.json()
        assert body["token"].startswith("tgs_")
        assert body["csrf_token"]
        session = _set_cookie(response, SESSION_COOKIE).lower()
        assert "httponly" in session
        assert "samesite=lax" in session
        assert "path=/" in session
        csrf = _set_cookie(response, CSRF_COOKIE)
        assert "httponly" not in csrf.lower()
        assert csrf.startswith(f"{CSRF_COOKIE}={body['csrf_token']}")
        assert client.cookies[SESSION_COOKIE] == body["token"]

    async def test_a_bearer_login_sets_no_cookie(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.post(
            "/v1/auth/login", json={"email": owner.email, "password": owner.password}
        )
        assert response.headers.get_list("set-cookie") == []
        assert response.json()["csrf_token"] is None

    async def test_a_get_with_the_cookie_needs_no_csrf_token(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await _cookie_login(client, owner)
        response = await client.get("/v1/me")
        assert response.status_code == 200
        assert response.json()["user"]["id"] == owner.user_id
        assert (await client.get(f"/v1/orgs/{owner.org_id}/projects")).status_code == 200

    async def test_an_unsafe_request_without_the_csrf_header_is_403(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await _cookie_login(client, owner)
        response = await client.post(f"/v1/orgs/{owner.org_id}/projects", json={"name": "x"})
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "csrf_failed"
        projects = (await client.get(f"/v1/orgs/{owner.org_id}/projects")).json()["items"]
        assert [p["id"] for p in projects] == [owner.project_id]

    @pytest.mark.parametrize("method", ["PATCH", "DELETE"])
    async def test_every_unsafe_method_is_checked(
        self, client: httpx.AsyncClient, owner: Tenant, method: str
    ) -> None:
        await _cookie_login(client, owner)
        response = await client.request(
            method,
            f"/v1/projects/{owner.project_id}",
            json={"name": "y"} if method == "PATCH" else None,
        )
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_failed"

    async def test_a_wrong_csrf_token_is_403(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await _cookie_login(client, owner)
        other = (await _cookie_login(client, await sign_up(client, "csrf-other"))).json()
        await _cookie_login(client, owner)
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/projects",
            json={"name": "x"},
            headers={"X-CSRF-Token": other["csrf_token"]},
        )
        assert response.status_code == 403

    async def test_the_right_csrf_token_lets_it_through(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        csrf = (await _cookie_login(client, owner)).json()["csrf_token"]
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/projects",
            json={"name": "Via Browser"},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 201, response.text

    async def test_logout_clears_the_cookies_and_ends_the_session(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        login = await _cookie_login(client, owner)
        token, csrf = login.json()["token"], login.json()["csrf_token"]
        response = await client.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 204
        assert SESSION_COOKIE not in client.cookies
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401

    async def test_an_api_key_in_the_session_cookie_is_refused(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        secret = (await org_key(client, owner, ["org:admin"]))["key"]
        client.cookies.set(SESSION_COOKIE, secret)
        assert (await client.get(f"/v1/orgs/{owner.org_id}")).status_code == 401


class TestBadCredentials:
    async def test_no_credentials_is_401_with_a_challenge(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.get(f"/v1/orgs/{owner.org_id}")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="tollgate"'
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize(
        "authorization",
        ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc", "tgs_nothing"],
    )
    async def test_a_malformed_authorization_header_is_401(
        self, client: httpx.AsyncClient, authorization: str
    ) -> None:
        response = await client.get("/v1/me", headers={"Authorization": authorization})
        assert response.status_code == 401

    @pytest.mark.parametrize(
        "token",
        [
            "garbage",
            keys.generate(keys.KeyKind.SESSION)[:-1] + "0",
            keys.generate(keys.KeyKind.SESSION),
            keys.generate(keys.KeyKind.HUB),
            keys.generate(keys.KeyKind.ORG),
            "tgs_" + "\u00e9" * 38,
        ],
        ids=["garbage", "bad-checksum", "unknown-session", "hub-key", "unknown-key", "unicode"],
    )
    async def test_unusable_tokens_are_401_problems(
        self, client: httpx.AsyncClient, token: str
    ) -> None:
        header = f"Bearer {token}".encode()  # raw bytes: httpx would refuse non-ASCII text
        response = await client.get("/v1/me", headers=[(b"authorization", header)])
        assert response.status_code == 401
        assert response.json()["status"] == 401

    async def test_an_expired_session_is_401(
        self, client: httpx.AsyncClient, owner: Tenant, db_session: AsyncSession
    ) -> None:
        await db_session.execute(
            text(
                "UPDATE user_sessions SET expires_at = now() - interval '1 second' "
                "WHERE user_id = :u"
            ),
            {"u": owner.user_id},
        )
        await db_session.commit()
        assert (await client.get("/v1/me", headers=owner.auth)).status_code == 401


class TestRefusedRequestsReleaseTheirSession:
    """A 401/403/404 raised by an auth dependency must not leave a transaction open."""

    @pytest.fixture
    async def live(self, settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
        resources = Resources.open(settings)
        async with app_client(create_app(resources=resources)) as client:
            yield client, resources

    async def test_no_connection_stays_checked_out(
        self, live: tuple[httpx.AsyncClient, Resources]
    ) -> None:
        client, resources = live
        tenant = await sign_up(client, "pool")
        stranger = await sign_up(client, "stranger")
        refused = [
            await client.get("/v1/me", headers=bearer(keys.generate(keys.KeyKind.SESSION))),
            await client.get(f"/v1/orgs/{tenant.org_id}", headers=stranger.auth),
            await client.get(f"/v1/projects/{tenant.project_id}", headers=stranger.auth),
        ]
        assert [r.status_code for r in refused] == [401, 404, 404]
        assert resources.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


class TestMeSaysWhetherTheAddressIsVerified:
    async def test_me_carries_email_verified_at_once_the_link_is_followed(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "me-verified")
        before = (await client.get("/v1/me", headers=tenant.auth)).json()["user"]
        assert before["email_verified_at"] is None
        await verify_email(client, mailbox, tenant.email)
        after = (await client.get("/v1/me", headers=tenant.auth)).json()["user"]
        assert after["email_verified_at"] is not None
        # other answers carrying a user do not grow the field
        login = await client.post(
            "/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
        )
        assert "email_verified_at" not in login.json().get("user", {})
