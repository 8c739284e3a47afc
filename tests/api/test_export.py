"""GET /v1/orgs/{org}/export: every row type and the telemetry, no secret, owners and admins
only, other tenants 404, and a trailer that tells a whole export from a cut one."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.resources import Resources
from billing.plans import PlanCode, add_months
from billing.quotas.base import Category
from infra.ids import new_id
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings
from tenancy.export import line
from tenancy.models import SsoConnection
from tenancy.repository import SsoRepository
from tests.billing.invoicing import close, org_on, put_usage
from tests.billing.support import org_session
from tests.support import gateway as gw
from tests.support.tenancy import MEMBER_PASSWORD, add_member, invite, use_fast_password_hashing
from tests.support.tenants import Tenant, project_key, sign_up

NDJSON = "application/x-ndjson"
SSO_SECRET = "sso-client-secret-" + secrets.token_hex(8)
CONTROL_PLANE = (
    "org",
    "member",
    "project",
    "api_key",
    "invite",
    "sso_connection",
    "subscription",
    "plan_change",
    "invoice",
    "usage_hourly",
    "audit_event",
)
TELEMETRY = ("log", "span", "metric_series")


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


async def export(client: httpx.AsyncClient, org: str, auth: dict[str, str]) -> httpx.Response:
    return await client.get(f"/v1/orgs/{org}/export", headers=auth)


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    assert response.text.endswith("\n")
    return [json.loads(text) for text in response.text.splitlines()]


def hashes_of(secret: str) -> list[str]:
    """How a stored SHA-256 of a secret could leak into JSON: hex or base64."""
    digest = hashlib.sha256(secret.encode()).digest()
    return [
        digest.hex(),
        base64.b64encode(digest).decode(),
        base64.urlsafe_b64encode(digest).decode(),
    ]


async def add_sso(resources: Resources, tenant: Tenant) -> None:
    async with org_session(resources, tenant.org_id) as (session, context):
        await SsoRepository(session, context).save(
            SsoConnection(
                id=new_id("sso"),
                issuer="https://idp.example.com",
                discovery_url="https://idp.example.com/.well-known/openid-configuration",
                client_id="tollgate",
                client_secret_encrypted=resources.secret_box.encrypt(SSO_SECRET),
                domains=["example.com"],
                enforce=False,
                default_role="viewer",
            )
        )


class TestExportContents:
    async def test_every_row_type_and_the_telemetry_with_no_secret(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        vm_stores: list[VmInstance],
    ) -> None:
        # A pro org with a closed period (an invoice and ledger rows), then upgraded to scale.
        anchor = add_months(datetime.now(UTC).replace(microsecond=0) - timedelta(days=3), -1)
        tenant = await org_on(client, resources, anchor, PlanCode.PRO, name="exporter")
        await put_usage(resources, tenant, anchor + timedelta(hours=5), {Category.METRICS: 42})
        (invoice,) = await close(resources, tenant.org_id, add_months(anchor, 1))
        upgraded = await client.put(
            f"/v1/orgs/{tenant.org_id}/subscription", json={"plan": "scale"}, headers=tenant.auth
        )
        assert upgraded.status_code == 200, upgraded.text
        key = await project_key(client, tenant)
        org_secret = await gw.org_key(client, tenant, ["org:admin"])
        pending = await invite(client, tenant.auth, tenant.org_id, role="viewer")
        member = await add_member(client, tenant, "member")
        await add_sso(resources, tenant)

        writer = gw.Writer(tenant, key["key"])
        trace_id = secrets.token_hex(16)
        logs = [{"message": "export me", "trace_id": trace_id}, {"message": "and me"}]
        ingested = await client.post(writer.path("ingest/logs"), json=logs, headers=writer.auth)
        assert ingested.json()["accepted"] == 2, ingested.text
        span = {"service_id": "svc", "trace_id": trace_id, "name": "GET /", "duration_ms": 3}
        ingested = await client.post(writer.path("ingest/spans"), json=span, headers=writer.auth)
        assert ingested.json()["accepted"] == 1, ingested.text
        metric = gw.unique_metric("tg_export")
        sent = await client.post(
            writer.path("ingest/metrics"), json=gw.simple_json(metric, 2), headers=writer.auth
        )
        assert sent.status_code == 200, sent.text
        assert len(await gw.wait_for(client, writer, metric, vm_stores, count=2)) == 2

        response = await export(client, tenant.org_slug, tenant.auth)
        lines = lines_of(response)

        header, body, trailer = lines[0], lines[1:-1], lines[-1]
        assert header["type"] == "export"
        assert (header["org_id"], header["version"], header["tier"]) == (tenant.org_id, 1, "long")
        assert datetime.fromisoformat(header["exported_at"]) <= datetime.now(UTC)
        assert trailer["type"] == "end"
        counted = Counter(item["type"] for item in body)
        assert trailer["counts"] == dict.fromkeys(CONTROL_PLANE + TELEMETRY, 0) | counted
        assert all(counted[kind] > 0 for kind in CONTROL_PLANE + TELEMETRY), counted

        def of(kind: str) -> list[dict[str, Any]]:
            return [item for item in body if item["type"] == kind]

        assert of("org")[0] | {"created_at": None} == {
            "type": "org",
            "id": tenant.org_id,
            "slug": tenant.org_slug,
            "name": "Exporter",
            "status": "active",
            "created_at": None,
        }
        assert {(m["user_id"], m["email"], m["role"]) for m in of("member")} == {
            (tenant.user_id, tenant.email, "owner"),
            (member.user_id, member.email, "member"),
        }
        assert [p["id"] for p in of("project")] == [tenant.project_id]
        keys = {k["id"]: k for k in of("api_key")}
        assert keys[key["id"]]["prefix"] == key["prefix"]
        assert keys[key["id"]]["project_id"] == tenant.project_id
        assert sorted(k["kind"] for k in keys.values()) == ["org", "project"]
        assert pending["id"] in {i["id"] for i in of("invite")}
        assert of("sso_connection")[0]["client_id"] == "tollgate"
        assert of("subscription")[0]["plan"] == "scale"
        assert of("plan_change")[0]["kind"] == "upgrade"
        (exported_invoice,) = of("invoice")
        assert exported_invoice["id"] == invoice.id
        assert exported_invoice["lines"][0]["kind"] == "base"
        assert exported_invoice["total"] == str(invoice.total)
        assert {u["quantity"] for u in of("usage_hourly") if u["category"] == "metrics"} >= {42}
        actions = [event["action"] for event in of("audit_event")]
        assert actions[0] == "org.exported"
        assert {"org.created", "invite.created", "member.added"} <= set(actions)
        assert sorted(r["body"] for r in of("log")) == ["and me", "export me"]
        assert {r["project"] for r in of("log")} == {tenant.project_id}
        assert [(s["trace_id"], s["name"]) for s in of("span")] == [(trace_id, "GET /")]
        series = [s for s in of("metric_series") if s["metric"]["__name__"] == metric]
        assert len(series) == 2
        assert {s["metric"]["tenant"] for s in of("metric_series")} == {tenant.org_id}
        assert all(len(s["values"]) == len(s["timestamps"]) >= 1 for s in series)

        text = response.text
        for secret in (
            key["key"],
            org_secret,
            tenant.token,
            member.token,
            pending["token"],
            tenant.password,
            MEMBER_PASSWORD,
            SSO_SECRET,
        ):
            assert secret not in text
            assert not any(digest in text for digest in hashes_of(secret))
        for leak in ("argon2", "password", "secret_hash", "token_hash", "client_secret"):
            assert leak not in text

    async def test_an_admin_may_export_and_the_export_is_audited(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client, "audited")
        admin = await add_member(client, tenant, "admin")
        lines = lines_of(await export(client, tenant.org_id, admin.auth))
        assert lines[-1]["type"] == "end"
        log = await client.get(f"/v1/orgs/{tenant.org_id}/audit-log", headers=tenant.auth)
        (event,) = [e for e in log.json()["items"] if e["action"] == "org.exported"]
        assert event["actor"] == {"type": "user", "id": admin.user_id}
        assert event["target"] == {"type": "org", "id": tenant.org_id}

    async def test_a_store_failing_mid_stream_ends_with_an_error_line_and_no_trailer(
        self, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tenant = await sign_up(client, "cut")
        monkeypatch.setattr(type(settings), "vm_read_url", lambda self, tier: "http://127.0.0.1:9")
        lines = lines_of(await export(client, tenant.org_id, tenant.auth))
        assert lines[0]["type"] == "export"
        assert lines[-1]["type"] == "error"
        assert lines[-1]["section"] == "metric_series"
        assert "end" not in {item["type"] for item in lines}
        assert [item["type"] for item in lines].count("org") == 1


class TestExportAccess:
    async def test_another_tenant_gets_404_by_id_and_by_slug(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "victim")
        other = await sign_up(client, "snoop")
        for ref in (owner.org_id, owner.org_slug):
            response = await export(client, ref, other.auth)
            assert response.status_code == 404, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        assert (await export(client, "org_doesnotexist0000", other.auth)).status_code == 404

    @pytest.mark.parametrize("role", ["member", "viewer", "billing"])
    async def test_members_below_admin_are_forbidden(
        self, client: httpx.AsyncClient, role: str
    ) -> None:
        owner = await sign_up(client, "guarded")
        someone = await add_member(client, owner, role)
        response = await export(client, owner.org_slug, someone.auth)
        assert response.status_code == 403, response.text

    async def test_no_api_key_may_export(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "keyed")
        org_key = await gw.org_key(client, owner, ["org:admin", "billing:read"])
        response = await export(client, owner.org_id, {"Authorization": f"Bearer {org_key}"})
        assert response.status_code == 403, response.text
        key = await project_key(client, owner)
        response = await export(client, owner.org_id, {"Authorization": f"Bearer {key['key']}"})
        assert response.status_code == 403, response.text

    async def test_without_credentials_401(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "anon")
        assert (await client.get(f"/v1/orgs/{owner.org_id}/export")).status_code == 401


class TestLine:
    def test_type_comes_first_and_encoded_objects_pass_through(self) -> None:
        assert line("x", {}) == b'{"type":"x"}\n'
        assert line("x", {"a": 1}) == b'{"type":"x","a":1}\n'
        assert line("m", b'{"metric":{"a":"b"}}') == b'{"type":"m","metric":{"a":"b"}}\n'

    def test_anything_but_a_json_object_is_refused(self) -> None:
        with pytest.raises(TypeError):
            line("x", [1, 2])
