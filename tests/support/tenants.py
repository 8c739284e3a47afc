"""Tenants made through the public API, as a real client would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Tenant:
    """A signed-up user with their org, default project and session token."""

    email: str
    password: str
    token: str
    user_id: str
    org_id: str
    org_slug: str
    project_id: str

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate as this tenant's owner."""
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(client: httpx.AsyncClient, name: str = "acme", **extra: Any) -> Tenant:
    """Sign up a new owner with their own org."""
    email = f"{name}-{secrets.token_hex(4)}@example.com"
    password = "correct horse battery"
    body = {"email": email, "password": password, "name": name.title(), "org_name": name.title()}
    response = await client.post("/v1/auth/signup", json=body | extra)
    assert response.status_code == 201, response.text
    data = response.json()
    return Tenant(
        email=email,
        password=password,
        token=data["token"],
        user_id=data["user"]["id"],
        org_id=data["org"]["id"],
        org_slug=data["org"]["slug"],
        project_id=data["project"]["id"],
    )


async def project_key(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    """Create a project key in the tenant's default project; returns the 201 body."""
    response = await client.post(
        f"/v1/projects/{tenant.project_id}/keys",
        json={"name": "test key"} | body,
        headers=tenant.auth,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
