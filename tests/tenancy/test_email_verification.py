"""Email verification through a real SMTP server: signup mails a link; unproven accounts wait."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy import keys
from tests.support.smtp import Mailbox
from tests.support.tenancy import MEMBER_PASSWORD, invite, verify_email
from tests.support.tenants import Tenant, sign_up

VERIFY = "accounts.send_verification_mail"


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    """An org owner who invites people."""
    return await sign_up(client, "inviter")


async def _verified_at(session: AsyncSession, user_id: str) -> datetime | None:
    value: datetime | None = await session.scalar(
        text("SELECT email_verified_at FROM users WHERE id = :id"), {"id": user_id}
    )
    return value


class TestSignupMail:
    async def test_signup_mails_a_link_after_commit_and_following_it_verifies(
        self, client: httpx.AsyncClient, mailbox: Mailbox, db_session: AsyncSession
    ) -> None:
        tenant = await sign_up(client, "fresh")
        assert [job.args for job in mailbox.queued(VERIFY)] == [(tenant.user_id,)]
        assert await _verified_at(db_session, tenant.user_id) is None
        mail = await mailbox.last_to(tenant.email)
        assert mail.subject == "Confirm your email address for Tollgate"
        assert "/verify-email#token=tgv_" in mail.text
        token = mail.token()
        answer = await client.post("/v1/auth/verify-email", json={"token": token})
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["id"] == tenant.user_id
        assert datetime.fromisoformat(answer.json()["email_verified_at"])
        assert await _verified_at(db_session, tenant.user_id) is not None

    async def test_a_refused_signup_mails_nothing(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "taken")
        await mailbox.deliver()
        again = await client.post(
            "/v1/auth/signup",
            json={
                "email": tenant.email,
                "password": "another password",
                "name": "X",
                "org_name": "Y",
            },
        )
        assert again.status_code == 409
        assert mailbox.queued(VERIFY) == []

    async def test_only_the_hash_of_the_token_is_stored(
        self, client: httpx.AsyncClient, mailbox: Mailbox, db_session: AsyncSession
    ) -> None:
        tenant = await sign_up(client, "hashed")
        token = (await mailbox.last_to(tenant.email)).token()
        stored = (
            await db_session.execute(
                text("SELECT token_hash, email FROM email_tokens WHERE user_id = :id"),
                {"id": tenant.user_id},
            )
        ).one()
        assert bytes(stored.token_hash) == keys.digest(token)
        assert stored.email == tenant.email


class TestVerifyLink:
    async def test_a_link_works_once(self, client: httpx.AsyncClient, mailbox: Mailbox) -> None:
        tenant = await sign_up(client, "once")
        token = (await mailbox.last_to(tenant.email)).token()
        assert (
            await client.post("/v1/auth/verify-email", json={"token": token})
        ).status_code == 200
        again = await client.post("/v1/auth/verify-email", json={"token": token})
        assert again.status_code == 410
        assert again.json()["code"] == "token_invalid"

    async def test_an_expired_link_is_410(
        self, client: httpx.AsyncClient, mailbox: Mailbox, db_session: AsyncSession
    ) -> None:
        tenant = await sign_up(client, "late")
        token = (await mailbox.last_to(tenant.email)).token()
        await db_session.execute(
            text("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
        )
        await db_session.commit()
        assert (
            await client.post("/v1/auth/verify-email", json={"token": token})
        ).status_code == 410
        assert await _verified_at(db_session, tenant.user_id) is None

    async def test_unknown_and_malformed_tokens_are_4xx(self, client: httpx.AsyncClient) -> None:
        unknown = await client.post("/v1/auth/verify-email", json={"token": "tgv_" + "A" * 40})
        assert unknown.status_code == 410
        nul = await client.post("/v1/auth/verify-email", json={"token": "a\u0000b"})
        assert nul.status_code == 400
        assert "token" in nul.json()["detail"]
        assert (await client.post("/v1/auth/verify-email", json={})).status_code == 400

    async def test_a_reset_token_does_not_verify(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "crossed")
        await mailbox.deliver()
        await client.post("/v1/auth/password-reset", json={"email": tenant.email})
        reset = (await mailbox.last_to(tenant.email)).token()
        assert reset.startswith("tgr_")
        answer = await client.post("/v1/auth/verify-email", json={"token": reset})
        assert answer.status_code == 410


class TestResend:
    async def test_resend_mails_a_new_link_that_works(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "resend")
        first = (await mailbox.last_to(tenant.email)).token()
        answer = await client.post("/v1/auth/verify-email/resend", headers=tenant.auth)
        assert answer.status_code == 202, answer.text
        second = (await mailbox.last_to(tenant.email)).token()
        assert second != first
        assert len(mailbox.server.to(tenant.email)) == 2
        ok = await client.post("/v1/auth/verify-email", json={"token": second})
        assert ok.status_code == 200
        # Verifying used up every outstanding link of the account.
        assert (
            await client.post("/v1/auth/verify-email", json={"token": first})
        ).status_code == 410

    async def test_resend_needs_a_session_and_an_unverified_address(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        assert (await client.post("/v1/auth/verify-email/resend")).status_code == 401
        tenant = await sign_up(client, "done")
        await verify_email(client, mailbox, tenant.email)
        again = await client.post("/v1/auth/verify-email/resend", headers=tenant.auth)
        assert again.status_code == 409
        assert again.json()["code"] == "already_verified"

    async def test_resends_are_limited_per_account(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "spammy")
        statuses = [
            (await client.post("/v1/auth/verify-email/resend", headers=tenant.auth)).status_code
            for _ in range(7)
        ]
        assert statuses == [202] * 5 + [429] * 2


class TestUnverifiedAccounts:
    async def test_can_sign_in_and_use_their_own_org(
        self, client: httpx.AsyncClient, mailbox: Mailbox
    ) -> None:
        tenant = await sign_up(client, "early")
        login = await client.post(
            "/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
        )
        assert login.status_code == 200
        assert (
            await client.get(f"/v1/orgs/{tenant.org_id}", headers=tenant.auth)
        ).status_code == 200
        key = await client.post(
            f"/v1/projects/{tenant.project_id}/keys", json={"name": "k"}, headers=tenant.auth
        )
        assert key.status_code == 201

    async def test_cannot_accept_an_invite_to_another_org_until_verified(
        self, client: httpx.AsyncClient, mailbox: Mailbox, owner: Tenant
    ) -> None:
        squatter = await sign_up(client, "squatter")
        invited = await invite(client, owner.auth, owner.org_id, role="admin", email=squatter.email)
        refused = await client.post(f"/v1/invites/{invited['token']}/accept", headers=squatter.auth)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "email_unverified"
        orgs = (await client.get("/v1/me", headers=squatter.auth)).json()["orgs"]
        assert [o["id"] for o in orgs] == [squatter.org_id]
        # The invite stays usable: once the address is proven, the same invite works.
        await verify_email(client, mailbox, squatter.email)
        joined = await client.post(f"/v1/invites/{invited['token']}/accept", headers=squatter.auth)
        assert joined.status_code == 200, joined.text
        orgs = (await client.get("/v1/me", headers=squatter.auth)).json()["orgs"]
        assert {o["id"] for o in orgs} == {squatter.org_id, owner.org_id}

    async def test_an_account_made_through_an_invite_is_unverified_and_mailed(
        self, client: httpx.AsyncClient, mailbox: Mailbox, owner: Tenant, db_session: AsyncSession
    ) -> None:
        invited = await invite(client, owner.auth, owner.org_id)
        accepted = await client.post(
            f"/v1/invites/{invited['token']}/accept",
            json={"password": MEMBER_PASSWORD, "name": "New"},
        )
        assert accepted.status_code == 200
        user_id = accepted.json()["user"]["id"]
        assert await _verified_at(db_session, user_id) is None
        mail = await mailbox.last_to(invited["email"])
        assert mail.token().startswith("tgv_")
