"""OIDC single sign-on against a real OpenID Provider (npm oidc-provider on loopback).

Domain proofs, account linking and session scoping are in test_sso_domains.py; here every
connection's domain is proven first (a real DNS server on loopback), as an org would.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.resources import Resources
from infra.oidc import OidcClient
from tenancy.sso import STATE_KEY_PREFIX
from tests.support.dns import DnsZone
from tests.support.oidc import (
    OidcProvider,
    follow_login_async,
    forge_id_token,
)
from tests.support.sso import (
    ALICE,
    BOB_UNVERIFIED,
    CALLBACK,
    CAROL_ELSEWHERE,
    CLIENT_ID,
    CLIENT_SECRET,
    DAVE,
    DOMAIN,
    PASSWORD,
    audit_actions,
    bind_state,
    config_body,
    configure,
    dns,
    id_token_claims,
    idp,
    idp_callback,
    query_of,
    set_email_verified,
    signup_with_email,
    sso_client,
    sso_login,
    sso_resources,
    start,
)
from tests.support.tenants import Tenant, sign_up

__all__ = ["dns", "idp", "sso_client", "sso_resources"]  # fixtures used by name


class TestConfiguration:
    async def test_owner_configures_sso_and_the_secret_is_never_shown(
        self,
        sso_client: httpx.AsyncClient,
        idp: OidcProvider,
        dns: DnsZone,
        db_session: AsyncSession,
        sso_resources: Resources,
    ) -> None:
        owner = await sign_up(sso_client, "acme")

        response = await sso_client.put(
            f"/v1/orgs/{owner.org_slug}/sso",
            json=config_body(idp, domains=["ACME.example", "acme.example."]),
            headers=owner.auth,
        )

        assert response.status_code == 200, response.text
        assert CLIENT_SECRET not in response.text
        body = response.json()
        assert body["issuer"] == idp.issuer
        assert body["discovery_url"] == idp.discovery_url
        assert body["domains"] == [DOMAIN]
        assert body["default_role"] == "viewer"
        assert body["enforce"] is False
        assert body["start_url"] == f"http://testserver/v1/auth/sso/{owner.org_slug}/start"
        assert body["redirect_uri"] == CALLBACK
        fetched = await sso_client.get(f"/v1/orgs/{owner.org_slug}/sso", headers=owner.auth)
        assert fetched.status_code == 200
        assert CLIENT_SECRET not in fetched.text
        assert fetched.json()["client_id"] == CLIENT_ID

        events = [
            e for e in await audit_actions(sso_client, owner) if e["action"] == "sso.configured"
        ]
        assert len(events) == 1
        assert events[0]["actor"] == {"type": "user", "id": owner.user_id}
        assert events[0]["data"]["domains"] == [DOMAIN]
        assert events[0]["data"]["client_secret_changed"] is True
        assert CLIENT_SECRET not in json.dumps(events[0])

        await db_session.execute(
            text("SELECT set_config('app.org_id', :org, true)"), {"org": owner.org_id}
        )
        stored = await db_session.scalar(
            text("SELECT client_secret_encrypted FROM sso_connections WHERE org_id = :org"),
            {"org": owner.org_id},
        )
        assert isinstance(stored, bytes)
        assert CLIENT_SECRET.encode() not in stored
        assert sso_resources.secret_box.decrypt(stored) == CLIENT_SECRET

    async def test_update_without_secret_keeps_it_and_first_configuration_needs_it(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        body = config_body(idp)
        del body["client_secret"]

        refused = await sso_client.put(
            f"/v1/orgs/{owner.org_slug}/sso", json=body, headers=owner.auth
        )
        assert refused.status_code == 422
        assert refused.json()["field"] == "client_secret"

        await configure(sso_client, owner, idp, dns)
        updated = await sso_client.put(
            f"/v1/orgs/{owner.org_slug}/sso", json=body | {"enforce": True}, headers=owner.auth
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["enforce"] is True
        login = await sso_login(sso_client, owner.org_slug, ALICE["email"])
        assert login.status_code == 200, login.text

    async def test_discovery_url_alone_derives_the_issuer(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")

        body = await configure(
            sso_client, owner, idp, dns, issuer=None, discovery_url=idp.discovery_url
        )

        assert body["issuer"] == idp.issuer

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"issuer": None}, "issuer"),
            ({"issuer": "http://127.0.0.1:9"}, "issuer"),
            ({"domains": ["not a domain"]}, "domains"),
            ({"domains": ["localhost"]}, "domains"),
        ],
    )
    async def test_invalid_configuration_is_refused(
        self,
        sso_client: httpx.AsyncClient,
        idp: OidcProvider,
        dns: DnsZone,
        overrides: dict[str, Any],
        field: str,
    ) -> None:
        owner = await sign_up(sso_client, "acme")

        response = await sso_client.put(
            f"/v1/orgs/{owner.org_slug}/sso", json=config_body(idp, **overrides), headers=owner.auth
        )

        assert response.status_code == 422, response.text
        assert response.json()["field"] == field

    async def test_delete_removes_the_connection_and_is_audited(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns)

        deleted = await sso_client.delete(f"/v1/orgs/{owner.org_slug}/sso", headers=owner.auth)

        assert deleted.status_code == 204
        gone = await sso_client.get(f"/v1/orgs/{owner.org_slug}/sso", headers=owner.auth)
        assert gone.status_code == 404
        assert "sso.deleted" in [e["action"] for e in await audit_actions(sso_client, owner)]
        start_gone = await sso_client.get(f"/v1/auth/sso/{owner.org_slug}/start")
        assert start_gone.status_code == 404

    async def test_member_without_admin_role_is_forbidden(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns)
        invite = await sso_client.post(
            f"/v1/orgs/{owner.org_slug}/invites",
            json={"email": "member@example.com", "role": "member"},
            headers=owner.auth,
        )
        assert invite.status_code == 201, invite.text
        accepted = await sso_client.post(
            f"/v1/invites/{invite.json()['token']}/accept",
            json={"password": PASSWORD, "name": "Member"},
        )
        assert accepted.status_code == 200, accepted.text
        member = {"Authorization": f"Bearer {accepted.json()['token']}"}
        url = f"/v1/orgs/{owner.org_slug}/sso"

        assert (await sso_client.get(url, headers=member)).status_code == 403
        assert (await sso_client.put(url, json=config_body(idp), headers=member)).status_code == 403
        assert (await sso_client.delete(url, headers=member)).status_code == 403

    async def test_another_tenant_gets_404(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns)
        other = await sign_up(sso_client, "globex")

        for ref in (owner.org_slug, owner.org_id):
            url = f"/v1/orgs/{ref}/sso"
            assert (await sso_client.get(url, headers=other.auth)).status_code == 404
            put = await sso_client.put(url, json=config_body(idp), headers=other.auth)
            assert put.status_code == 404
            assert (await sso_client.delete(url, headers=other.auth)).status_code == 404
        still = await sso_client.get(f"/v1/orgs/{owner.org_slug}/sso", headers=owner.auth)
        assert still.status_code == 200

    async def test_a_domain_verified_by_one_org_cannot_be_claimed_by_another(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        first = await sign_up(sso_client, "acme")
        await configure(sso_client, first, idp, dns)
        second = await sign_up(sso_client, "globex")

        response = await sso_client.put(
            f"/v1/orgs/{second.org_slug}/sso",
            json=config_body(idp, domains=["globex.example", DOMAIN]),
            headers=second.auth,
        )

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "sso_domain_taken"
        assert response.json()["domain"] == DOMAIN
        # The owner of the claim may re-save it.
        assert (await configure(sso_client, first, idp, dns, enforce=True))["domains"] == [DOMAIN]


class TestLogin:
    async def test_first_login_creates_the_user_and_a_member_with_the_default_role(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns, default_role="viewer")

        response = await sso_login(sso_client, owner.org_slug, ALICE["email"])

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token"].startswith("tgs_")
        assert body["user"]["email"] == ALICE["email"]
        assert body["user"]["name"] == ALICE["name"]
        assert body["org"]["id"] == owner.org_id
        assert body["org"]["role"] == "viewer"
        assert response.cookies.get("tg_session") == body["token"]
        assert "httponly" in response.headers["set-cookie"].lower()

        me = await sso_client.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.status_code == 200, me.text
        assert me.json()["user"]["email"] == ALICE["email"]
        assert [(o["id"], o["role"]) for o in me.json()["orgs"]] == [(owner.org_id, "viewer")]

        added = [e for e in await audit_actions(sso_client, owner) if e["action"] == "member.added"]
        assert [(e["target"]["id"], e["data"]) for e in added if e["data"].get("via")] == [
            (body["user"]["id"], {"role": "viewer", "via": "sso"})
        ]
        # An SSO-only account has no password to log in with.
        password = await sso_client.post(
            "/v1/auth/login", json={"email": ALICE["email"], "password": PASSWORD}
        )
        assert password.status_code == 401

    async def test_second_login_reuses_the_user_and_the_membership(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns)

        first = await sso_login(sso_client, owner.org_slug, ALICE["email"])
        second = await sso_login(sso_client, owner.org_slug, ALICE["email"])

        assert first.status_code == second.status_code == 200
        assert first.json()["user"]["id"] == second.json()["user"]["id"]
        assert first.json()["token"] != second.json()["token"]
        members = await sso_client.get(f"/v1/orgs/{owner.org_slug}/members", headers=owner.auth)
        assert sorted(m["email"] for m in members.json()["items"]) == sorted(
            [owner.email, ALICE["email"]]
        )
        actions = [e["action"] for e in await audit_actions(sso_client, owner)]
        assert actions.count("sso.login") == 2
        assert actions.count("member.added") == 2  # the owner at signup, Alice once

    async def test_login_hint_reaches_the_provider_with_pkce_state_and_nonce(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns)

        params = query_of(await start(sso_client, owner.org_slug, login_hint=ALICE["email"]))

        assert params["client_id"] == CLIENT_ID
        assert params["redirect_uri"] == CALLBACK
        assert params["response_type"] == "code"
        assert params["code_challenge_method"] == "S256"
        assert len(params["code_challenge"]) == 43
        assert params["login_hint"] == ALICE["email"]
        assert set(params["scope"].split()) == {"openid", "email", "profile"}
        assert params["state"]
        assert params["nonce"]

    async def test_existing_password_user_of_an_enforced_domain_must_use_sso(
        self,
        sso_client: httpx.AsyncClient,
        idp: OidcProvider,
        dns: DnsZone,
        db_session: AsyncSession,
    ) -> None:
        dave = await signup_with_email(sso_client, DAVE["email"])
        await set_email_verified(db_session, DAVE["email"], True)
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns, enforce=True, default_role="member")

        refused = await sso_client.post(
            "/v1/auth/login", json={"email": DAVE["email"], "password": PASSWORD}
        )

        assert refused.status_code == 403, refused.text
        problem = refused.json()
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == "sso_required"
        assert problem["start_url"] == (
            f"http://testserver/v1/auth/sso/{owner.org_slug}/start"
            f"?login_hint={quote(DAVE['email'])}"
        )
        authorize = await sso_client.get(problem["start_url"])
        assert authorize.status_code == 302
        callback = await follow_login_async(authorize.headers["location"], stop_at_prefix=CALLBACK)
        logged_in = await sso_client.get(callback)
        assert logged_in.status_code == 200, logged_in.text
        assert logged_in.json()["user"]["id"] == dave["user"]["id"]
        me = await sso_client.get(
            "/v1/me", headers={"Authorization": f"Bearer {logged_in.json()['token']}"}
        )
        # The SSO org's provider vouches for the SSO org only: Dave's session from it carries no
        # role in his own org (this used to hand the IdP his ownership of "Dave Co").
        roles = {o["id"]: o["role"] for o in me.json()["orgs"]}
        assert roles == {owner.org_id: "member"}
        sso_session = {"Authorization": f"Bearer {logged_in.json()['token']}"}
        own_org = await sso_client.get(f"/v1/orgs/{dave['org']['id']}", headers=sso_session)
        assert own_org.status_code == 404
        own_project = await sso_client.get(
            f"/v1/projects/{dave['project']['id']}", headers=sso_session
        )
        assert own_project.status_code == 404

    async def test_password_login_of_a_domain_that_does_not_enforce_still_works(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        await signup_with_email(sso_client, DAVE["email"])
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns, enforce=False)

        response = await sso_client.post(
            "/v1/auth/login", json={"email": DAVE["email"], "password": PASSWORD}
        )

        assert response.status_code == 200, response.text

    async def test_redirect_to_sets_the_cookie_and_goes_to_the_relative_path(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns)

        callback = await idp_callback(
            sso_client, owner.org_slug, ALICE["email"], redirect_to="/app/dashboards?x=1"
        )
        response = await sso_client.get(callback)

        assert response.status_code == 302, response.text
        assert response.headers["location"] == "/app/dashboards?x=1"
        token = response.cookies.get("tg_session")
        assert token is not None
        assert token.startswith("tgs_")
        me = await sso_client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200

    @pytest.mark.parametrize(
        "target",
        ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"],
    )
    async def test_redirect_to_elsewhere_is_refused(
        self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone, target: str
    ) -> None:
        owner = await sign_up(sso_client, "acme")
        await configure(sso_client, owner, idp, dns)

        response = await sso_client.get(
            f"/v1/auth/sso/{owner.org_slug}/start", params={"redirect_to": target}
        )

        assert response.status_code == 422, response.text
        assert response.json()["field"] == "redirect_to"

    async def test_start_for_an_org_without_sso_is_404(self, sso_client: httpx.AsyncClient) -> None:
        owner = await sign_up(sso_client, "acme")

        for slug in (owner.org_slug, "no-such-org"):
            response = await sso_client.get(f"/v1/auth/sso/{slug}/start")
            assert response.status_code == 404, response.text


class TestRefusals:
    @pytest.fixture
    async def owner(self, sso_client: httpx.AsyncClient, idp: OidcProvider, dns: DnsZone) -> Tenant:
        tenant = await sign_up(sso_client, "acme")
        await configure(sso_client, tenant, idp, dns)
        return tenant

    async def test_unknown_state_is_refused(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        bind_state(sso_client, "forged")

        response = await sso_client.get(
            "/v1/auth/sso/callback", params={"state": "forged", "code": "x"}
        )

        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "sso_failed"
        assert "Unknown" in response.json()["detail"]

    async def test_callback_opened_in_another_browser_is_refused(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        """Login CSRF: an attacker's own callback URL, opened by a victim's browser."""
        callback = await idp_callback(sso_client, owner.org_slug, ALICE["email"])
        state = query_of(callback)["state"]
        sso_client.cookies.clear()  # another browser: it never went through start

        response = await sso_client.get(callback)

        assert response.status_code == 400, response.text
        assert "not started in this browser" in response.json()["detail"]
        assert "tg_session" not in response.cookies
        # The refusal did not use up the login of the browser that started it.
        bind_state(sso_client, state)
        assert (await sso_client.get(callback)).status_code == 200

    async def test_wrong_state_for_a_real_code_is_refused(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        callback = await idp_callback(sso_client, owner.org_slug, ALICE["email"])
        params = query_of(callback) | {"state": secrets.token_urlsafe(32)}

        response = await sso_client.get("/v1/auth/sso/callback", params=params)

        assert response.status_code == 400
        assert response.json()["code"] == "sso_failed"
        assert "tg_session" not in response.cookies

    async def test_replayed_callback_is_refused(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        callback = await idp_callback(sso_client, owner.org_slug, ALICE["email"])
        assert (await sso_client.get(callback)).status_code == 200

        replay = await sso_client.get(callback)
        assert replay.status_code == 400  # the state cookie was cleared by the login
        bind_state(sso_client, query_of(callback)["state"])
        replay_with_cookie = await sso_client.get(callback)

        assert replay_with_cookie.status_code == 400
        assert "already used" in replay_with_cookie.json()["detail"]

    async def test_a_redeemed_code_is_refused_by_the_provider_even_with_a_fresh_state(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        callback = await idp_callback(sso_client, owner.org_slug, ALICE["email"])
        assert (await sso_client.get(callback)).status_code == 200
        fresh_state = query_of(await start(sso_client, owner.org_slug))["state"]

        replay = await sso_client.get(
            "/v1/auth/sso/callback", params=query_of(callback) | {"state": fresh_state}
        )

        assert replay.status_code == 400
        assert "invalid_grant" in replay.json()["detail"]

    async def test_response_from_another_issuer_is_refused(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        callback = await idp_callback(sso_client, owner.org_slug, ALICE["email"])

        response = await sso_client.get(
            "/v1/auth/sso/callback", params=query_of(callback) | {"iss": "https://evil.example"}
        )

        assert response.status_code == 400
        assert "another issuer" in response.json()["detail"]

    async def test_provider_error_is_reported(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        callback = await idp_callback(sso_client, owner.org_slug, "nobody@acme.example")

        response = await sso_client.get(callback)

        assert response.status_code == 400
        assert "access_denied" in response.json()["detail"]

    async def test_email_outside_the_connection_domains_is_forbidden(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await sso_login(sso_client, owner.org_slug, CAROL_ELSEWHERE["email"])

        assert response.status_code == 403, response.text
        assert response.json()["code"] == "sso_domain_not_allowed"
        members = await sso_client.get(f"/v1/orgs/{owner.org_slug}/members", headers=owner.auth)
        assert [m["email"] for m in members.json()["items"]] == [owner.email]

    async def test_unverified_email_is_refused(
        self, sso_client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await sso_login(sso_client, owner.org_slug, BOB_UNVERIFIED["email"])

        assert response.status_code == 400, response.text
        assert "not verified" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("claims", "reason"),
        [
            ({"aud": "another-client"}, "another audience"),
            ({"iat": -600, "exp": -300}, "expired"),
        ],
    )
    async def test_callback_refuses_an_id_token_the_validator_rejects(
        self,
        sso_client: httpx.AsyncClient,
        sso_resources: Resources,
        redis_client: aioredis.Redis,
        idp: OidcProvider,
        owner: Tenant,
        claims: dict[str, Any],
        reason: str,
    ) -> None:
        state = query_of(await start(sso_client, owner.org_slug))["state"]
        stored = await redis_client.get(STATE_KEY_PREFIX + state)
        assert stored is not None
        pending = json.loads(stored)
        assert set(pending) == {"org_id", "nonce", "code_verifier", "created", "redirect_to"}
        assert pending["org_id"] == owner.org_id
        assert 0 < await redis_client.ttl(STATE_KEY_PREFIX + state) <= 600
        now = int(time.time())
        forged = id_token_claims(idp, nonce=pending["nonce"]) | {
            name: now + value if name in ("iat", "exp") else value for name, value in claims.items()
        }

        def token_endpoint(request: httpx.Request) -> httpx.Response:
            id_token = forge_id_token(idp.jwk, forged)
            return httpx.Response(200, json={"id_token": id_token, "token_type": "Bearer"})

        sso_resources.oidc = OidcClient(
            sso_resources.outbound,
            require_https=False,
            transport=httpx.MockTransport(token_endpoint),
        )

        response = await sso_client.get(
            "/v1/auth/sso/callback", params={"state": state, "code": "c", "iss": idp.issuer}
        )

        assert response.status_code == 400, response.text
        assert reason in response.json()["detail"]
