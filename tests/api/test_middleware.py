"""Middleware: the client address behind (un)trusted proxies, and an access log without secrets."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.resources import Resources
from infra import jobs
from infra.http import create_http_client
from infra.logging import redact_path, redact_query
from infra.settings import Settings
from tests.support.asgi import TEST_CLIENT_IP, app_client
from tests.support.smtp import Mailbox
from tests.support.tenancy import MEMBER_PASSWORD, invite, use_fast_password_hashing
from tests.support.tenants import sign_up


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests sign people up; keep each hash cheap."""
    use_fast_password_hashing(monkeypatch)


@asynccontextmanager
async def _client(
    settings: Settings,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
    resources: Resources,
    **overrides: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with some settings changed, on the test's transaction and Redis."""
    http = create_http_client()
    changed = Resources(
        settings=settings.model_copy(update=overrides),
        engine=engine,
        session_factory=factory,
        redis=resources.redis,
        http=http,
        owned=False,
    )
    try:
        async with app_client(create_app(resources=changed)) as client:
            yield client
    finally:
        await http.aclose()


async def _signup_ip(client: httpx.AsyncClient, forwarded_for: str | None) -> set[str]:
    """The address the audit log records for a signup sent with this X-Forwarded-For."""
    email = f"addr-{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": "correct horse battery", "name": "A", "org_name": "A"}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = await client.post("/v1/auth/signup", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data = response.json()
    events = await client.get(
        f"/v1/orgs/{data['org']['id']}/audit-log",
        headers={"Authorization": f"Bearer {data['token']}"},
    )
    return {e["ip"] for e in events.json()["items"]}


class TestClientAddress:
    async def test_without_trusted_proxies_x_forwarded_for_is_ignored(
        self, client: httpx.AsyncClient
    ) -> None:
        assert await _signup_ip(client, "198.51.100.9") == {TEST_CLIENT_IP}

    async def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(
        self,
        settings: Settings,
        app_engine: AsyncEngine,
        session_factory: async_sessionmaker[AsyncSession],
        resources: Resources,
    ) -> None:
        async with _client(
            settings, app_engine, session_factory, resources, trusted_proxies="203.0.113.0/24"
        ) as client:
            # The client wrote 6.6.6.6 itself; our proxy (203.0.113.7) appended 198.51.100.9.
            assert await _signup_ip(client, "6.6.6.6, 198.51.100.9") == {"198.51.100.9"}
            assert await _signup_ip(client, None) == {TEST_CLIENT_IP}

    async def test_every_trusted_hop_is_skipped(
        self,
        settings: Settings,
        app_engine: AsyncEngine,
        session_factory: async_sessionmaker[AsyncSession],
        resources: Resources,
    ) -> None:
        trusted = "203.0.113.0/24, 10.0.0.0/8"
        async with _client(
            settings, app_engine, session_factory, resources, trusted_proxies=trusted
        ) as client:
            assert await _signup_ip(client, "192.0.2.44, 10.1.2.3") == {"192.0.2.44"}

    def test_a_malformed_trusted_proxies_setting_stops_the_start(self, settings: Settings) -> None:
        for bad in ("*", "not-an-ip", "10.0.0.0/99"):
            with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
                create_app(settings.model_copy(update={"trusted_proxies": bad}))


class TestRedaction:
    def test_token_routes_and_token_shaped_segments_are_redacted(self) -> None:
        assert redact_path("/v1/invites/anything-at-all/accept") == "/v1/invites/[redacted]/accept"
        assert redact_path("/v1/auth/password-reset/xyz") == "/v1/auth/password-reset/[redacted]"
        assert redact_path("/v1/auth/password-reset") == "/v1/auth/password-reset"
        key = "tgp_" + "a1B2" * 9
        assert redact_path(f"/v1/whatever/{key}/x") == "/v1/whatever/[redacted]/x"
        assert redact_path("/v1/projects/prj_123/keys") == "/v1/projects/prj_123/keys"

    def test_query_values_are_never_kept(self) -> None:
        assert redact_query("code=abc&state=def&limit=5") == (
            "code=[redacted]&state=[redacted]&limit=[redacted]"
        )


class TestAccessLogHoldsNoSecrets:
    async def test_no_token_or_password_reaches_the_info_log(
        self,
        settings: Settings,
        app_engine: AsyncEngine,
        session_factory: async_sessionmaker[AsyncSession],
        resources: Resources,
        mailbox: Mailbox,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        secrets_seen: list[str] = []
        async with _client(
            settings, app_engine, session_factory, resources, log_level="INFO"
        ) as client:
            jobs.install_sender(mailbox)  # the lifespan installed the broker's sender
            capsys.readouterr()  # only what these requests log
            owner = await sign_up(client, "logged")
            secrets_seen += [owner.token, owner.password]
            invited = await invite(client, owner.auth, owner.org_id)
            secrets_seen.append(invited["token"])
            accepted = await client.post(
                f"/v1/invites/{invited['token']}/accept",
                json={"password": MEMBER_PASSWORD, "name": "Logged Member"},
            )
            assert accepted.status_code == 200
            secrets_seen += [accepted.json()["token"], MEMBER_PASSWORD]
            verify_token = (await mailbox.last_to(owner.email)).token()
            secrets_seen.append(verify_token)
            assert (
                await client.post("/v1/auth/verify-email", json={"token": verify_token})
            ).is_success
            await client.post("/v1/auth/password-reset", json={"email": owner.email})
            reset_token = (await mailbox.last_to(owner.email)).token()
            secrets_seen.append(reset_token)
            new_password = "the new secret passphrase"
            secrets_seen.append(new_password)
            reset = await client.post(
                f"/v1/auth/password-reset/{reset_token}", json={"password": new_password}
            )
            assert reset.status_code == 204
            # Secrets where clients put them by mistake: in a query, in an unknown path.
            key = "tgp_" + secrets.token_hex(16)
            secrets_seen.append(key)
            await client.get(f"/v1/me?api_key={key}")
            await client.get(f"/v1/nowhere/{key}")
            code = secrets.token_urlsafe(24)
            secrets_seen.append(code)
            await client.get(f"/v1/auth/sso/callback?code={code}&state={code}")
        logged = capsys.readouterr().err
        lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
        paths = [line.get("path") for line in lines if line.get("event") == "request"]
        # The capture works: the access log wrote one line per request, paths redacted.
        assert "/v1/invites/[redacted]/accept" in paths
        assert "/v1/auth/password-reset/[redacted]" in paths
        assert "/v1/nowhere/[redacted]" in paths
        assert len(paths) == 9
        queries = [line.get("query") for line in lines if line.get("event") == "request"]
        assert "api_key=[redacted]" in queries
        for secret in secrets_seen:
            assert secret not in logged, secret
