"""Accounts through the HTTP API: signup, login (and its throttle), logout, /v1/me."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.errors import TooManyAttemptsError
from tenancy.throttle import LoginThrottle
from tests.support.asgi import TEST_CLIENT_IP
from tests.support.tenancy import bearer
from tests.support.tenants import Tenant, sign_up

PASSWORD = "correct horse battery"


def _signup_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": f"ada-{secrets.token_hex(4)}@example.com",
        "password": PASSWORD,
        "name": "Ada Lovelace",
        "org_name": "Analytical Engines",
    }
    return body | overrides


def _is_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"email": email, "password": password})


class TestSignup:
    async def test_answers_201_with_user_org_project_and_session_token(
        self, client: httpx.AsyncClient
    ) -> None:
        body = _signup_body()
        response = await client.post("/v1/auth/signup", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        assert data["user"]["id"].startswith("usr_")
        assert data["user"]["email"] == body["email"]
        assert data["org"]["id"].startswith("org_")
        assert data["org"]["name"] == "Analytical Engines"
        assert data["org"]["slug"] == "analytical-engines"
        assert data["project"]["id"].startswith("prj_")
        assert data["project"]["name"]
        assert data["token"].startswith("tgs_")

    async def test_token_is_a_working_session_of_the_new_owner(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client, "hopper")
        me = await client.get("/v1/me", headers=tenant.auth)
        assert me.status_code == 200, me.text
        assert me.json()["user"]["id"] == tenant.user_id
        assert [(o["id"], o["role"]) for o in me.json()["orgs"]] == [(tenant.org_id, "owner")]
        projects = await client.get(f"/v1/orgs/{tenant.org_id}/projects", headers=tenant.auth)
        assert [p["id"] for p in projects.json()["items"]] == [tenant.project_id]

    async def test_password_is_stored_as_an_argon2id_hash(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        tenant = await sign_up(client, "knuth")
        stored = await db_session.scalar(
            text("SELECT password_hash FROM users WHERE id = :u"), {"u": tenant.user_id}
        )
        assert stored.startswith("$argon2id$")
        assert tenant.password not in stored

    async def test_email_is_stored_lower_cased(self, client: httpx.AsyncClient) -> None:
        email = f"Grace.Hopper-{secrets.token_hex(3)}@Example.COM"
        response = await client.post("/v1/auth/signup", json=_signup_body(email=email))
        assert response.status_code == 201, response.text
        assert response.json()["user"]["email"] == email.lower()

    async def test_second_org_with_the_same_name_gets_a_distinct_slug(
        self, client: httpx.AsyncClient
    ) -> None:
        first = await client.post("/v1/auth/signup", json=_signup_body(org_name="Same Name"))
        second = await client.post("/v1/auth/signup", json=_signup_body(org_name="Same Name"))
        assert first.status_code == second.status_code == 201
        assert first.json()["org"]["slug"] == "same-name"
        assert second.json()["org"]["slug"].startswith("same-name-")

    async def test_duplicate_email_is_a_409_problem(self, client: httpx.AsyncClient) -> None:
        body = _signup_body()
        assert (await client.post("/v1/auth/signup", json=body)).status_code == 201
        again = body | {"email": str(body["email"]).upper(), "org_name": "Another"}
        problem = _is_problem(await client.post("/v1/auth/signup", json=again), 409)
        assert problem["code"] == "email_taken"
        assert problem["field"] == "email"

    @pytest.mark.parametrize(
        "email", ["not-an-email", "two@@example.com", "trailing@", "spaces in@example.com"]
    )
    async def test_bad_email_syntax_is_a_problem_naming_the_field(
        self, client: httpx.AsyncClient, email: str
    ) -> None:
        response = await client.post("/v1/auth/signup", json=_signup_body(email=email))
        assert response.status_code in (400, 422), response.text
        problem = _is_problem(response, response.status_code)
        assert "email" in str(problem["detail"])

    async def test_unknown_body_field_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/auth/signup", json=_signup_body(is_admin=True))
        problem = _is_problem(response, 400)
        assert "is_admin" in str(problem["detail"])

    async def test_too_short_password_is_400_naming_the_field(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/v1/auth/signup", json=_signup_body(password="short"))
        problem = _is_problem(response, 400)
        assert "password" in str(problem["detail"])

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", "n" * 201),
            ("org_name", "o" * 201),
            ("password", "p" * 257),
            ("email", "e" * 310 + "@example.com"),
        ],
    )
    async def test_too_long_string_is_400_naming_the_field(
        self, client: httpx.AsyncClient, field: str, value: str
    ) -> None:
        response = await client.post("/v1/auth/signup", json=_signup_body(**{field: value}))
        problem = _is_problem(response, 400)
        assert field in str(problem["detail"])

    @pytest.mark.parametrize("field", ["email", "password", "name", "org_name"])
    async def test_missing_field_is_400(self, client: httpx.AsyncClient, field: str) -> None:
        body = _signup_body()
        del body[field]
        problem = _is_problem(await client.post("/v1/auth/signup", json=body), 400)
        assert field in str(problem["detail"])

    async def test_nul_character_in_a_name_is_refused_not_a_500(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/v1/auth/signup", json=_signup_body(name="Ada\u0000"))
        _is_problem(response, 400)


class TestLogin:
    async def test_returns_a_session_token_and_its_expiry(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "lamport")
        response = await _login(client, tenant.email, tenant.password)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token"].startswith("tgs_")
        assert body["token"] != tenant.token
        expires_at = datetime.fromisoformat(body["expires_at"])
        assert timedelta(days=13) < expires_at - datetime.now(UTC) <= timedelta(days=14)
        me = await client.get("/v1/me", headers=bearer(body["token"]))
        assert me.status_code == 200
        assert me.json()["user"]["email"] == tenant.email

    async def test_email_is_matched_case_insensitively(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "dijkstra")
        response = await _login(client, f"  {tenant.email.upper()} ", tenant.password)
        assert response.status_code == 200, response.text

    async def test_wrong_password_is_a_401_problem(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "liskov")
        problem = _is_problem(await _login(client, tenant.email, "wrong password!"), 401)
        assert problem["code"] == "invalid_credentials"

    async def test_unknown_email_answers_exactly_like_a_wrong_password(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client, "hamilton")
        wrong = _is_problem(await _login(client, tenant.email, "wrong password!"), 401)
        unknown = _is_problem(await _login(client, "nobody@example.com", "whatever123"), 401)
        assert {k: v for k, v in wrong.items() if k != "request_id"} == {
            k: v for k, v in unknown.items() if k != "request_id"
        }

    async def test_unknown_body_field_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/auth/login", json={"email": "a@example.com", "password": "x", "remember": True}
        )
        _is_problem(response, 400)

    async def test_a_nul_character_in_the_email_is_400_not_a_500(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await _login(client, "a\u0000@example.com", "whatever123")
        _is_problem(response, 400)


class TestLoginThrottle:
    async def test_five_failures_for_an_email_answer_429_with_retry_after(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client, "mallory")
        for _ in range(5):
            assert (await _login(client, tenant.email, "wrong password!")).status_code == 401
        response = await _login(client, tenant.email, "wrong password!")
        problem = _is_problem(response, 429)
        assert problem["code"] == "too_many_attempts"
        retry_after = response.headers["retry-after"]
        assert retry_after.isdigit()
        assert 1 <= int(retry_after) <= 15 * 60

    async def test_throttled_email_is_refused_even_with_the_right_password(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client, "eve")
        for _ in range(5):
            await _login(client, tenant.email, "wrong password!")
        assert (await _login(client, tenant.email, tenant.password)).status_code == 429

    async def test_the_email_limit_does_not_touch_other_emails(
        self, client: httpx.AsyncClient
    ) -> None:
        victim = await sign_up(client, "victim")
        other = await sign_up(client, "bystander")
        for _ in range(5):
            await _login(client, victim.email, "wrong password!")
        assert (await _login(client, other.email, other.password)).status_code == 200

    async def test_a_good_login_clears_the_email_failures(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "forgetful")
        for _ in range(4):
            await _login(client, tenant.email, "wrong password!")
        assert (await _login(client, tenant.email, tenant.password)).status_code == 200
        for _ in range(4):
            assert (await _login(client, tenant.email, "wrong password!")).status_code == 401
        assert (await _login(client, tenant.email, tenant.password)).status_code == 200

    async def test_thirty_failures_from_one_address_throttle_every_email(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client, "sprayed")
        for i in range(30):
            email = f"guess-{i}@example.com"
            assert (await _login(client, email, "password guess")).status_code == 401
        response = await _login(client, tenant.email, tenant.password)
        _is_problem(response, 429)
        assert int(response.headers["retry-after"]) >= 1

    async def test_redis_holds_no_email_addresses(
        self, client: httpx.AsyncClient, redis_client: aioredis.Redis
    ) -> None:
        tenant = await sign_up(client, "private")
        await _login(client, tenant.email, "wrong password!")
        keys = [k.decode() for k in await redis_client.keys("tg:login:*")]
        assert keys
        assert not any(tenant.email in k for k in keys)
        assert f"tg:login:ip:{TEST_CLIENT_IP}" in keys

    async def test_retry_after_is_the_rest_of_the_window(
        self, redis_client: aioredis.Redis
    ) -> None:
        throttle = LoginThrottle(redis_client)
        for _ in range(5):
            await throttle.acquire("x@example.com", None)
        (key,) = await redis_client.keys("tg:login:email:*")
        await redis_client.expire(key, 3)
        with pytest.raises(TooManyAttemptsError) as raised:
            await throttle.acquire("x@example.com", None)
        assert raised.value.headers["Retry-After"] in {"1", "2", "3"}
        assert raised.value.extra["retry_after"] == int(raised.value.headers["Retry-After"])


class TestLogout:
    async def test_logged_out_token_is_refused(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "leaver")
        response = await client.post("/v1/auth/logout", headers=tenant.auth)
        assert response.status_code == 204
        again = await client.get("/v1/me", headers=tenant.auth)
        _is_problem(again, 401)
        assert (
            await client.get(f"/v1/orgs/{tenant.org_id}", headers=tenant.auth)
        ).status_code == 401

    async def test_other_sessions_of_the_user_stay_valid(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "laptop")
        phone = (await _login(client, tenant.email, tenant.password)).json()["token"]
        assert (await client.post("/v1/auth/logout", headers=tenant.auth)).status_code == 204
        assert (await client.get("/v1/me", headers=bearer(phone))).status_code == 200

    async def test_needs_a_session(self, client: httpx.AsyncClient) -> None:
        _is_problem(await client.post("/v1/auth/logout"), 401)


class TestMe:
    async def test_lists_every_org_of_the_user_with_the_role(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant: Tenant = await sign_up(client, "multi")
        created = await client.post("/v1/orgs", json={"name": "Side Project"}, headers=tenant.auth)
        assert created.status_code == 201, created.text
        other = await sign_up(client, "stranger")
        me = (await client.get("/v1/me", headers=tenant.auth)).json()
        assert me["user"] == {
            "id": tenant.user_id,
            "email": tenant.email,
            "name": "Multi",
            "email_verified_at": None,  # signed up, not yet verified by mail
        }
        orgs = {o["id"]: o["role"] for o in me["orgs"]}
        assert orgs == {tenant.org_id: "owner", created.json()["id"]: "owner"}
        assert other.org_id not in orgs

    async def test_without_credentials_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/me")
        _is_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
