"""SSO domains are proven before they are trusted; SSO never hands out roles in other orgs.

A real IdP (oidc-provider) and a real DNS server on loopback; every rule is tried by a second
tenant acting against the first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from api.resources import Resources
from tests.support.asgi import app_client
from tests.support.dns import DnsZone
from tests.support.oidc import OidcProvider
from tests.support.scripted_server import serving
from tests.support.sso import (
    ALICE,
    DAVE,
    DOMAIN,
    PASSWORD,
    VICTIM,
    VICTIM_DOMAIN,
    audit_actions,
    config_body,
    configure,
    dns,
    idp,
    publish,
    set_email_verified,
    signup_with_email,
    sso_client,
    sso_login,
    sso_resources,
    verify_domain,
)
from tests.support.tenants import Tenant, sign_up

__all__ = ["dns", "idp", "sso_client", "sso_resources"]  # fixtures used by name


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def members(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    response = await client.get(f"/v1/orgs/{tenant.org_slug}/members", headers=tenant.auth)
    assert response.status_code == 200, response.text
    return sorted(m["email"] for m in response.json()["items"])


async def password_login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})


class TestDomainProofs:
    async def test_the_org_sees_the_txt_record_and_proves_the_domain_with_it(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        saved = await configure(sso_client, owner, idp)
        [proof] = saved["domain_proofs"]
        assert proof["domain"] == DOMAIN
        assert proof["status"] == "pending"
        assert proof["record_type"] == "TXT"
        assert proof["record_name"] == f"_tollgate.{DOMAIN}"
        assert proof["record_value"].startswith("tollgate-verify=")
        listed = await sso_client.get(f"/v1/orgs/{owner.org_slug}/sso/domains", headers=owner.auth)
        assert listed.json()["items"] == [proof]

        missing = await verify_domain(sso_client, owner, DOMAIN)
        assert missing.status_code == 422, missing.text
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert missing.json()["code"] == "domain_proof_missing"
        assert missing.json()["field"] == "domain"
        assert missing.json()["record_value"] == proof["record_value"]
        publish(dns, proof | {"record_value": "tollgate-verify=someone-elses-token"})
        assert (await verify_domain(sso_client, owner, DOMAIN)).status_code == 422

        publish(dns, proof)
        verified = await verify_domain(sso_client, owner, "ACME.example.")

        assert verified.status_code == 200, verified.text
        assert verified.json()["status"] == "verified"
        assert verified.json()["verified_at"] is not None
        read = await sso_client.get(f"/v1/orgs/{owner.org_slug}/sso", headers=owner.auth)
        assert read.json()["domain_proofs"][0]["status"] == "verified"
        events = [(e["action"], e["data"]) for e in await audit_actions(sso_client, owner)]
        assert ("sso.domain_verified", {"domain": DOMAIN}) in events

    @pytest.mark.parametrize(
        "domain", ["gmail.com", "GMAIL.COM.", "outlook.com", "proton.me", "mail.yahoo.com"]
    )
    async def test_a_public_mail_domain_cannot_be_claimed(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, domain: str
    ) -> None:
        owner = await sign_up(sso_client, "acme")

        response = await sso_client.put(
            f"/v1/orgs/{owner.org_slug}/sso",
            json=config_body(idp, domains=[DOMAIN, domain]),
            headers=owner.auth,
        )

        assert response.status_code == 422, response.text
        assert response.json()["field"] == "domains"
        assert "public mail domain" in response.json()["detail"]
        assert (
            await sso_client.get(f"/v1/orgs/{owner.org_slug}/sso", headers=owner.auth)
        ).status_code == 404

    async def test_another_tenant_gets_404_for_domains_and_their_proofs(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp)
        other = await sign_up(sso_client, "globex")

        for ref in (owner.org_slug, owner.org_id):
            listed = await sso_client.get(f"/v1/orgs/{ref}/sso/domains", headers=other.auth)
            assert listed.status_code == 404
            verify = await sso_client.post(
                f"/v1/orgs/{ref}/sso/domains/{DOMAIN}/verify", headers=other.auth
            )
            assert verify.status_code == 404
        unclaimed = await verify_domain(sso_client, owner, "unclaimed.example")
        assert unclaimed.status_code == 404
        for bad_domain in ("not_a_domain", "x" * 300 + ".example"):
            bad = await verify_domain(sso_client, owner, bad_domain)
            assert bad.status_code == 422, bad.text
            assert bad.json()["field"] == "domain"
        nul = await verify_domain(sso_client, owner, "acme%00.example")
        assert nul.status_code == 404, nul.text  # a path with a NUL names no resource

    async def test_many_orgs_may_claim_a_domain_but_one_holds_it_verified(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        squatter = await sign_up(sso_client, "squatter")
        squatted = await configure(sso_client, squatter, idp, enforce=True)
        owner = await sign_up(sso_client, "acme")

        # An unverified claim blocks nobody: the real owner claims and proves the domain.
        mine = await configure(sso_client, owner, idp, dns)
        assert mine["domain_proofs"][0]["status"] == "verified"

        publish(dns, squatted["domain_proofs"][0])  # even with its own record published
        late = await verify_domain(sso_client, squatter, DOMAIN)
        assert late.status_code == 409, late.text
        assert late.json()["code"] == "sso_domain_taken"
        third = await sign_up(sso_client, "third")
        claim = await sso_client.put(
            f"/v1/orgs/{third.org_slug}/sso", json=config_body(idp), headers=third.auth
        )
        assert claim.status_code == 409
        assert claim.json()["domain"] == DOMAIN


class TestUnverifiedDomains:
    """Org A claims the domain of B's owner, with its own IdP and `enforce`, without proof."""

    @pytest.fixture
    async def victim(self, sso_client: httpx.AsyncClient, db_session: AsyncSession) -> Tenant:
        signed = await signup_with_email(sso_client, VICTIM["email"], org_name="Victim Co")
        await set_email_verified(db_session, VICTIM["email"], True)
        return Tenant(
            email=VICTIM["email"],
            password=PASSWORD,
            token=signed["token"],
            user_id=signed["user"]["id"],
            org_id=signed["org"]["id"],
            org_slug=signed["org"]["slug"],
            project_id=signed["project"]["id"],
        )

    @pytest.fixture
    async def attacker(self, sso_client: httpx.AsyncClient, idp: OidcProvider) -> Tenant:
        tenant = await sign_up(sso_client, "attacker")
        await configure(
            sso_client, tenant, idp, domains=[VICTIM_DOMAIN], enforce=True, default_role="admin"
        )
        return tenant

    async def test_the_attackers_idp_cannot_log_into_the_existing_account(
        self, sso_client: httpx.AsyncClient, victim: Tenant, attacker: Tenant
    ) -> None:
        response = await sso_login(sso_client, attacker.org_slug, VICTIM["email"])

        assert response.status_code == 403, response.text
        assert response.json()["code"] == "sso_domain_unverified"
        assert "tg_session" not in response.cookies
        assert await members(sso_client, attacker) == [attacker.email]
        assert await members(sso_client, victim) == [victim.email]

    async def test_nor_create_accounts_in_a_domain_it_has_not_proven(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, db_session: AsyncSession
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp)

        response = await sso_login(sso_client, owner.org_slug, ALICE["email"])

        assert response.status_code == 403, response.text
        assert response.json()["code"] == "sso_domain_unverified"
        users = await db_session.scalar(
            text("SELECT count(*) FROM users WHERE email = :e"), {"e": ALICE["email"]}
        )
        assert users == 0

    async def test_the_victims_password_login_is_neither_blocked_nor_redirected(
        self, sso_client: httpx.AsyncClient, victim: Tenant, attacker: Tenant
    ) -> None:
        response = await password_login(sso_client, VICTIM["email"])

        assert response.status_code == 200, response.text
        assert "sso_required" not in response.text
        assert attacker.org_slug not in response.text


class TestExistingAccounts:
    @pytest.fixture
    async def owner(self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone) -> Tenant:
        tenant = await sign_up(sso_client, "acme")
        await configure(sso_client, tenant, idp, dns, default_role="member")
        return tenant

    async def test_an_account_with_an_unverified_email_is_not_linked(
        self, sso_client: httpx.AsyncClient, db_session: AsyncSession, owner: Tenant
    ) -> None:
        await signup_with_email(sso_client, DAVE["email"])
        await set_email_verified(db_session, DAVE["email"], False)

        response = await sso_login(sso_client, owner.org_slug, DAVE["email"])

        assert response.status_code == 403, response.text
        assert response.json()["code"] == "sso_account_unverified"
        assert await members(sso_client, owner) == [owner.email]

    async def test_a_verified_account_is_linked_and_its_sso_session_stays_in_the_sso_org(
        self, sso_client: httpx.AsyncClient, db_session: AsyncSession, owner: Tenant
    ) -> None:
        dave = await signup_with_email(sso_client, DAVE["email"])
        await set_email_verified(db_session, DAVE["email"], True)

        response = await sso_login(sso_client, owner.org_slug, DAVE["email"])

        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == dave["user"]["id"]
        assert await identity_links(db_session, owner.org_id) == [(DAVE["sub"], dave["user"]["id"])]
        session = bearer(response.json()["token"])
        me = await sso_client.get("/v1/me", headers=session)
        assert [(o["id"], o["role"]) for o in me.json()["orgs"]] == [(owner.org_id, "member")]
        listed = await sso_client.get("/v1/orgs", headers=session)
        assert [o["id"] for o in listed.json()["items"]] == [owner.org_id]
        for path in (
            f"/v1/orgs/{dave['org']['id']}",
            f"/v1/orgs/{dave['org']['slug']}/members",
            f"/v1/projects/{dave['project']['id']}",
        ):
            assert (await sso_client.get(path, headers=session)).status_code == 404, path
        keys = await sso_client.post(
            f"/v1/projects/{dave['project']['id']}/keys", json={"name": "x"}, headers=session
        )
        assert keys.status_code == 404
        new_org = await sso_client.post("/v1/orgs", json={"name": "Side"}, headers=session)
        assert new_org.status_code == 403
        # The password session is Dave's own, with every role he holds.
        own = await password_login(sso_client, DAVE["email"])
        roles = {
            o["id"]: o["role"]
            for o in (await sso_client.get("/v1/me", headers=bearer(own.json()["token"]))).json()[
                "orgs"
            ]
        }
        assert roles == {dave["org"]["id"]: "owner", owner.org_id: "member"}

    async def test_a_linked_account_logs_in_by_its_link(
        self, sso_client: httpx.AsyncClient, db_session: AsyncSession, owner: Tenant
    ) -> None:
        await signup_with_email(sso_client, DAVE["email"])
        await set_email_verified(db_session, DAVE["email"], True)
        first = await sso_login(sso_client, owner.org_slug, DAVE["email"])
        assert first.status_code == 200, first.text
        await set_email_verified(db_session, DAVE["email"], False)  # e.g. an address change

        again = await sso_login(sso_client, owner.org_slug, DAVE["email"])

        assert again.status_code == 200, again.text
        logins = [e for e in await audit_actions(sso_client, owner) if e["action"] == "sso.login"]
        assert [e["data"]["account"] for e in logins] == ["linked", "linked_existing"]

    async def test_a_new_account_is_created_verified_and_linked(
        self, sso_client: httpx.AsyncClient, db_session: AsyncSession, owner: Tenant
    ) -> None:
        response = await sso_login(sso_client, owner.org_slug, ALICE["email"])

        assert response.status_code == 200, response.text
        verified_at = await db_session.scalar(
            text("SELECT email_verified_at FROM users WHERE email = :e"), {"e": ALICE["email"]}
        )
        assert verified_at is not None
        assert await identity_links(db_session, owner.org_id) == [
            (ALICE["sub"], response.json()["user"]["id"])
        ]


async def identity_links(db_session: AsyncSession, org_id: str) -> list[tuple[str, str]]:
    await db_session.execute(text("SELECT set_config('app.org_id', :o, true)"), {"o": org_id})
    rows = await db_session.execute(
        text("SELECT subject, user_id FROM sso_identities WHERE org_id = :o ORDER BY created_at"),
        {"o": org_id},
    )
    return [(row[0], row[1]) for row in rows]


class TestOutboundGuard:
    """SSO fetches go through the guarded client: with the allow-list empty (the default),
    a tenant cannot make the server call loopback, and cannot tell a refusal from a closed port."""

    @pytest.fixture
    async def guarded_client(self, sso_resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
        settings = sso_resources.settings.model_copy(update={"outbound_allow_cidrs": ""})
        guarded = dataclasses.replace(sso_resources, settings=settings)
        async with app_client(create_app(resources=guarded)) as client:
            yield client
        await guarded.outbound.aclose()

    async def test_discovery_on_loopback_is_refused_without_a_request(
        self, guarded_client: httpx.AsyncClient, sso_client: httpx.AsyncClient, idp: OidcProvider
    ) -> None:
        with serving() as internal:
            owner = await sign_up(guarded_client, "acme")
            details: list[Any] = []
            for body in (
                config_body(idp),  # the real IdP, on loopback
                config_body(idp, issuer=None, discovery_url=f"{internal.url}/api/v1/admin"),
            ):
                response = await guarded_client.put(
                    f"/v1/orgs/{owner.org_slug}/sso", json=body, headers=owner.auth
                )
                assert response.status_code == 422, response.text
                details.append(response.json()["detail"])
            # With loopback allowed, a closed port reads exactly like the refusal.
            closed = await sso_client.put(
                f"/v1/orgs/{owner.org_slug}/sso",
                json=config_body(idp, issuer=None, discovery_url="http://127.0.0.1:9/x"),
                headers=owner.auth,
            )
        assert internal.seen == []
        assert details[1] == closed.json()["detail"]
        assert (
            details[0] == "issuer: The identity provider's discovery document could not be fetched"
        )
