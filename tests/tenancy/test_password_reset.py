"""Password reset by mail through a real SMTP server: same answer for every address, one-hour
single-use links, and every session ends."""

from __future__ import annotations

from datetime import datetime

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.password_reset import MAILS_PER_ADDRESS_PER_HOUR, SEND_ACTOR
from tests.support.smtp import Mailbox
from tests.support.tenants import Tenant, sign_up

NEW_PASSWORD = "a brand new passphrase"


async def _reset_token(client: httpx.AsyncClient, mailbox: Mailbox, tenant: Tenant) -> str:
    await mailbox.deliver()  # the signup's verification mail
    asked = await client.post("/v1/auth/password-reset", json={"email": tenant.email})
    assert asked.status_code == 202, asked.text
    mail = await mailbox.last_to(tenant.email)
    assert mail.subject == "Reset your Tollgate password"
    return mail.token()


async def _login(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post("/v1/auth/login", json={"email": email, "password": password})
    return response.status_code


class TestRequest:
    async def test_known_and_unknown_addresses_get_the_same_answer_and_work(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "known")
        await mailbox.deliver()
        known = await client.post("/v1/auth/password-reset", json={"email": tenant.email})
        unknown = await client.post(
            "/v1/auth/password-reset", json={"email": "nobody-here@example.com"}
        )
        assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
        assert known.status_code == 202
        assert set(known.headers) - {"x-request-id"} == set(unknown.headers) - {"x-request-id"}
        # The same work in the request: one job each, the account is looked up by the job.
        assert [job.args for job in mailbox.queued(SEND_ACTOR)] == [
            (tenant.email,),
            ("nobody-here@example.com",),
        ]
        assert await mailbox.deliver() == 2
        assert [m.subject for m in mailbox.server.to(tenant.email)][-1].startswith("Reset")
        assert mailbox.server.to("nobody-here@example.com") == []

    async def test_the_address_is_matched_case_insensitively(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "casey")
        await mailbox.deliver()
        await client.post("/v1/auth/password-reset", json={"email": tenant.email.upper()})
        assert (await mailbox.last_to(tenant.email)).token().startswith("tgr_")

    async def test_mails_per_address_are_capped_without_changing_the_answer(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "bombed")
        await mailbox.deliver()
        answers = {
            (await client.post("/v1/auth/password-reset", json={"email": tenant.email})).status_code
            for _ in range(MAILS_PER_ADDRESS_PER_HOUR + 3)
        }
        assert answers == {202}
        assert await mailbox.deliver() == MAILS_PER_ADDRESS_PER_HOUR

    async def test_a_malformed_address_is_a_problem_naming_the_field(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        bad = await client.post("/v1/auth/password-reset", json={"email": "not-an-address"})
        assert bad.status_code == 422
        assert bad.json()["field"] == "email"
        nul = await client.post("/v1/auth/password-reset", json={"email": "a\u0000@example.com"})
        assert nul.status_code == 400
        assert mailbox.queued(SEND_ACTOR) == []


class TestComplete:
    async def test_the_new_password_works_and_every_session_ends(
        self, client: httpx.AsyncClient, mailbox: Mailbox, db_session: AsyncSession
    ) -> None:
        tenant = await sign_up(client, "reset")
        laptop = (
            await client.post(
                "/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
            )
        ).json()["token"]
        token = await _reset_token(client, mailbox, tenant)
        done = await client.post(
            f"/v1/auth/password-reset/{token}", json={"password": NEW_PASSWORD}
        )
        assert done.status_code == 204, done.text
        for session_token in (tenant.token, laptop):
            me = await client.get("/v1/me", headers={"Authorization": f"Bearer {session_token}"})
            assert me.status_code == 401
        assert await _login(client, tenant.email, tenant.password) == 401
        assert await _login(client, tenant.email, NEW_PASSWORD) == 200
        # The link reached the mailbox: the address is proven too.
        verified: datetime | None = await db_session.scalar(
            text("SELECT email_verified_at FROM users WHERE id = :id"), {"id": tenant.user_id}
        )
        assert verified is not None

    async def test_a_link_works_once(self, client: httpx.AsyncClient, mailbox: Mailbox) -> None:
        tenant = await sign_up(client, "twice")
        token = await _reset_token(client, mailbox, tenant)
        first = await client.post(
            f"/v1/auth/password-reset/{token}", json={"password": NEW_PASSWORD}
        )
        assert first.status_code == 204
        again = await client.post(
            f"/v1/auth/password-reset/{token}", json={"password": "yet another passphrase"}
        )
        assert again.status_code == 410
        assert again.json()["code"] == "token_invalid"
        assert await _login(client, tenant.email, NEW_PASSWORD) == 200

    async def test_a_newer_link_retires_none_but_using_one_retires_all(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "several")
        older = await _reset_token(client, mailbox, tenant)
        newer = await _reset_token(client, mailbox, tenant)
        assert older != newer
        used = await client.post(
            f"/v1/auth/password-reset/{newer}", json={"password": NEW_PASSWORD}
        )
        assert used.status_code == 204
        stale = await client.post(
            f"/v1/auth/password-reset/{older}", json={"password": "yet another passphrase"}
        )
        assert stale.status_code == 410

    async def test_a_link_expires_after_an_hour(
        self, client: httpx.AsyncClient, mailbox: Mailbox, db_session: AsyncSession
    ) -> None:
        tenant = await sign_up(client, "slow")
        token = await _reset_token(client, mailbox, tenant)
        lifetime = await db_session.scalar(
            text(
                "SELECT expires_at - created_at FROM email_tokens "
                "WHERE user_id = :id AND purpose = 'password_reset'"
            ),
            {"id": tenant.user_id},
        )
        assert lifetime is not None
        assert 3590 <= lifetime.total_seconds() <= 3610
        await db_session.execute(
            text("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
        )
        await db_session.commit()
        late = await client.post(
            f"/v1/auth/password-reset/{token}", json={"password": NEW_PASSWORD}
        )
        assert late.status_code == 410
        assert await _login(client, tenant.email, tenant.password) == 200

    async def test_a_short_password_is_400_and_keeps_the_link(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "short")
        token = await _reset_token(client, mailbox, tenant)
        short = await client.post(f"/v1/auth/password-reset/{token}", json={"password": "short"})
        assert short.status_code == 400
        assert "password" in short.json()["detail"]
        assert await _login(client, tenant.email, tenant.password) == 200
        ok = await client.post(f"/v1/auth/password-reset/{token}", json={"password": NEW_PASSWORD})
        assert ok.status_code == 204

    async def test_unknown_and_verification_tokens_are_410(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "wrongkind")
        verification = (await mailbox.last_to(tenant.email)).token()
        for token in ("tgr_" + "B" * 40, verification, "x"):
            answer = await client.post(
                f"/v1/auth/password-reset/{token}", json={"password": NEW_PASSWORD}
            )
            assert answer.status_code == 410, token
        assert await _login(client, tenant.email, tenant.password) == 200

    async def test_a_reset_clears_the_login_throttle(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "locked")
        for _ in range(5):
            await _login(client, tenant.email, "wrong guess!!")
        assert await _login(client, tenant.email, tenant.password) == 429
        token = await _reset_token(client, mailbox, tenant)
        done = await client.post(
            f"/v1/auth/password-reset/{token}", json={"password": NEW_PASSWORD}
        )
        assert done.status_code == 204
        assert await _login(client, tenant.email, NEW_PASSWORD) == 200
