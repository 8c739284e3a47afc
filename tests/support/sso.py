"""SSO test helpers: a real IdP (oidc-provider) and a real DNS server for domain proofs.

Import the fixtures into a test module (`from tests.support.sso import idp, dns, ...`); `idp` and
`dns` are module-scoped. `configure` saves a connection and, unless told otherwise, proves its
domains the way an org would: it publishes each TXT record the API shows and asks for the check.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from api.resources import Resources
from api.routes.sso import STATE_COOKIE
from tests.support.asgi import app_client
from tests.support.dns import DnsZone, dns_server
from tests.support.oidc import OidcAccount, OidcProvider, follow_login_async, running_provider
from tests.support.oidc import OidcClient as RegisteredClient
from tests.support.tenants import Tenant

CLIENT_ID = "tollgate-sso-test"
CLIENT_SECRET = "idp-client-secret-" + "k" * 20
CALLBACK = "http://testserver/v1/auth/sso/callback"
DOMAIN = "acme.example"
VICTIM_DOMAIN = "victim.example"
ALICE: OidcAccount = {
    "sub": "alice-1",
    "email": f"alice@{DOMAIN}",
    "email_verified": True,
    "name": "Alice Acme",
}
BOB_UNVERIFIED: OidcAccount = {"sub": "bob-2", "email": f"bob@{DOMAIN}", "email_verified": False}
CAROL_ELSEWHERE: OidcAccount = {
    "sub": "carol-3",
    "email": "carol@elsewhere.example",
    "email_verified": True,
}
DAVE: OidcAccount = {"sub": "dave-4", "email": f"dave@{DOMAIN}", "email_verified": True}
# The attacker's IdP says it is the owner of another tenant (an IdP asserts whatever it likes).
VICTIM: OidcAccount = {"sub": "forged-9", "email": f"owner@{VICTIM_DOMAIN}", "email_verified": True}
ACCOUNTS = [ALICE, BOB_UNVERIFIED, CAROL_ELSEWHERE, DAVE, VICTIM]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    """One provider for the module, with our client registered at the test server's callback."""
    clients: list[RegisteredClient] = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [CALLBACK]}
    ]
    with running_provider(clients, ACCOUNTS) as provider:
        yield provider


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsZone]:
    """The DNS server domain proofs are looked up on (DOMAIN_VERIFY_NAMESERVERS)."""
    with dns_server() as zone:
        yield zone


@pytest.fixture
def sso_resources(resources: Resources, dns: DnsZone) -> Resources:
    """The test resources with PUBLIC_URL set to the in-process client's base URL and the
    domain-proof nameserver set to the test DNS server."""
    settings = resources.settings.model_copy(
        update={"public_url": "http://testserver", "domain_verify_nameservers": dns.nameserver}
    )
    return dataclasses.replace(resources, settings=settings)


@pytest.fixture
async def sso_client(sso_resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose redirect URI is http://testserver/v1/auth/sso/callback."""
    async with app_client(create_app(resources=sso_resources)) as test_client:
        yield test_client


def config_body(idp: OidcProvider, **overrides: Any) -> dict[str, Any]:
    return {
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "domains": [DOMAIN],
        "default_role": "viewer",
    } | overrides


def publish(dns: DnsZone, proof: dict[str, Any]) -> None:
    """Put a domain's TXT record (as the API shows it) on the DNS server."""
    dns.txt.setdefault(proof["record_name"], []).append(proof["record_value"])


async def verify_domain(client: httpx.AsyncClient, tenant: Tenant, domain: str) -> httpx.Response:
    return await client.post(
        f"/v1/orgs/{tenant.org_slug}/sso/domains/{domain}/verify", headers=tenant.auth
    )


async def configure(
    client: httpx.AsyncClient,
    tenant: Tenant,
    idp: OidcProvider,
    dns: DnsZone | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Save the connection; with `dns`, also publish and verify every domain's proof."""
    response = await client.put(
        f"/v1/orgs/{tenant.org_slug}/sso", json=config_body(idp, **overrides), headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if dns is not None:
        for proof in body["domain_proofs"]:
            if proof["status"] != "verified":
                publish(dns, proof)
                verified = await verify_domain(client, tenant, proof["domain"])
                assert verified.status_code == 200, verified.text
        fetched = await client.get(f"/v1/orgs/{tenant.org_slug}/sso", headers=tenant.auth)
        body = fetched.json()
    return body


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def start(client: httpx.AsyncClient, slug: str, **params: str) -> str:
    """The provider URL that start redirects to."""
    response = await client.get(f"/v1/auth/sso/{slug}/start", params=params)
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    return location


async def idp_callback(client: httpx.AsyncClient, slug: str, email: str, **params: str) -> str:
    """Start a login and let the provider sign `email` in; the callback URL it redirects to."""
    authorize = await start(client, slug, login_hint=email, **params)
    return await follow_login_async(authorize, stop_at_prefix=CALLBACK)


async def sso_login(client: httpx.AsyncClient, slug: str, email: str) -> httpx.Response:
    return await client.get(await idp_callback(client, slug, email))


async def audit_actions(client: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/orgs/{tenant.org_slug}/audit-log", headers=tenant.auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def signup_with_email(
    client: httpx.AsyncClient, email: str, org_name: str = "Dave Co"
) -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD, "name": "Dave", "org_name": org_name}
    response = await client.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def set_email_verified(db_session: AsyncSession, email: str, verified: bool) -> None:
    """Stand in for the mailed verification link (tested with the accounts)."""
    await db_session.execute(
        text("UPDATE users SET email_verified_at = CASE WHEN :v THEN now() END WHERE email = :e"),
        {"v": verified, "e": email},
    )
    await db_session.commit()


def bind_state(client: httpx.AsyncClient, state: str) -> None:
    """Give the client the state cookie that start would have set."""
    client.cookies.set(STATE_COOKIE, state, domain="testserver.local", path="/v1/auth/sso/callback")


def id_token_claims(idp: OidcProvider, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": idp.issuer,
        "aud": CLIENT_ID,
        "sub": ALICE["sub"],
        "email": ALICE["email"],
        "email_verified": True,
        "nonce": "n-1",
        "iat": now,
        "exp": now + 300,
    } | overrides
