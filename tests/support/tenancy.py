"""Tenancy helpers: members joined through real invites, org keys, audit reads, cheap hashing."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy import passwords
from tests.support.smtp import MAIL_ACTORS, Mailbox
from tests.support.tenants import Tenant
from workers.broker import broker

MEMBER_PASSWORD = "member password 123"


def use_fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with minimal cost: the production parameters cost ~0.25 s per hash.

    Hashes keep their own parameters, so everything made here still verifies the real way.
    """
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", fast)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", fast.hash("tollgate-timing-equalizer"))


@dataclass(frozen=True)
class Member:
    """A person who joined an org through an invite, with their own session token."""

    email: str
    user_id: str
    token: str
    role: str

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate as this member."""
        return {"Authorization": f"Bearer {self.token}"}


async def invite(
    client: httpx.AsyncClient,
    inviter_auth: dict[str, str],
    org: str,
    *,
    role: str = "member",
    email: str | None = None,
) -> dict[str, Any]:
    """Invite someone (a fresh address unless given); returns the 201 body with the token."""
    email = email or f"invitee-{secrets.token_hex(4)}@example.com"
    response = await client.post(
        f"/v1/orgs/{org}/invites", json={"email": email, "role": role}, headers=inviter_auth
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_member(client: httpx.AsyncClient, owner: Tenant, role: str) -> Member:
    """A new person invited by the owner with this role, who signs up through the invite."""
    invited = await invite(client, owner.auth, owner.org_id, role=role)
    response = await client.post(
        f"/v1/invites/{invited['token']}/accept",
        json={"password": MEMBER_PASSWORD, "name": f"A {role}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Member(invited["email"], body["user"]["id"], body["token"], role)


async def verify_email(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> None:
    """Prove an address the real way: run the queued mail job, follow the mailed link."""
    token = (await mailbox.last_to(email)).token()
    response = await client.post("/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text


async def mark_verified(session: AsyncSession, user_id: str) -> None:
    """Mark an account's address proven directly (for tests about something else)."""
    await session.execute(
        text("UPDATE users SET email_verified_at = now() WHERE id = :id"), {"id": user_id}
    )
    await session.commit()


async def org_key(
    client: httpx.AsyncClient, tenant: Tenant, scopes: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """An org admin key (`tgo_…`); returns the 201 body."""
    body: dict[str, Any] = {"name": "automation", **extra}
    if scopes is not None:
        body["scopes"] = scopes
    response = await client.post(f"/v1/orgs/{tenant.org_id}/keys", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def bearer(token: str) -> dict[str, str]:
    """Authorization header for a token or key."""
    return {"Authorization": f"Bearer {token}"}


async def audit_events(
    client: httpx.AsyncClient, tenant: Tenant, limit: int = 200
) -> list[dict[str, Any]]:
    """The newest audit events of the tenant's org (as its owner)."""
    response = await client.get(
        f"/v1/orgs/{tenant.org_id}/audit-log", params={"limit": limit}, headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def as_org(session: AsyncSession, org_id: str) -> None:
    """Bind row-level security to one org for the session's transaction (raw SQL only)."""
    await session.execute(text("SELECT set_config('app.org_id', :org, true)"), {"org": org_id})


def queued_jobs(queue: str = "default", *, with_mail: bool = False) -> list[tuple[str, list[Any]]]:
    """(actor name, args) of every message waiting on a Dramatiq queue, oldest first.

    The account mails every signup queues are left out unless `with_mail`.
    """
    client = broker.client
    prefix = f"{broker.namespace}:{queue}"
    messages = []
    for message_id in client.lrange(prefix, 0, -1):
        decoded = json.loads(client.hget(f"{prefix}.msgs", message_id))
        if with_mail or decoded["actor_name"] not in MAIL_ACTORS:
            messages.append((decoded["actor_name"], decoded["args"]))
    return messages
