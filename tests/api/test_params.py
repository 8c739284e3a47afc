"""Edge checks of the control plane: NUL in URLs, times that overflow, forged cursors, limits the
quota kernel can't represent — each a 4xx problem naming the field (issue 10, item 13)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.params import nul_parameter
from billing.quotas.base import MAX_UNITS
from tenancy.schemas import MAX_RATE_UNITS
from tests.api.gateway import conftest as module_app
from tests.support.tenants import Tenant, sign_up

PROBLEM = "application/problem+json"
OVERFLOWING = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]


def _problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    named = {body.get("field"), *(e.get("field") for e in body.get("errors", []))}
    assert field in named or field in body["detail"], body
    return body


class TestNulParameter:
    @given(path=st.text(), params=st.lists(st.tuples(st.text(), st.text()), max_size=5))
    def test_finds_a_nul_exactly_when_there_is_one(
        self, path: str, params: list[tuple[str, str]]
    ) -> None:
        query = urlencode(params).encode()
        found = nul_parameter(path, query)
        has_nul = "\x00" in path or any("\x00" in k or "\x00" in v for k, v in params)
        assert (found is not None) == has_nul
        if found is not None and "\x00" not in path:
            assert "\x00" not in found

    @given(query=st.binary(max_size=200))
    def test_any_raw_query_string_is_answered(self, query: bytes) -> None:
        found = nul_parameter("/", query)
        assert found is None or isinstance(found, str)

    def test_names_the_parameter(self) -> None:
        assert nul_parameter("/x", b"a=1&service=b%00c") == "service"
        assert nul_parameter("/x\x00", b"") == "path"
        assert nul_parameter("/x", b"a=%2500") is None  # an escaped percent sign, not a NUL


# The gateway tests' module-wide app (one transaction, rolled back after the module).
module_resources = module_app.module_resources
module_client = module_app.module_client


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """One database transaction for the module: the tests only read, or are refused."""
    return module_client


@pytest.fixture(scope="module")
async def owner(module_client: httpx.AsyncClient) -> Tenant:
    """The org every test asks about."""
    return await sign_up(module_client, "edges")


class TestControlPlaneInput:
    @pytest.mark.parametrize("moment", OVERFLOWING)
    @pytest.mark.parametrize("field", ["from", "to"])
    async def test_usage_times_that_overflow_are_refused(
        self, client: httpx.AsyncClient, owner: Tenant, field: str, moment: str
    ) -> None:
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/usage", params={field: moment}, headers=owner.auth
        )
        _problem(response, 422, field)

    @pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "2300-01-01T00:00:00Z"])
    async def test_key_expiry_that_overflows_is_refused_and_nothing_is_created(
        self, client: httpx.AsyncClient, owner: Tenant, moment: str
    ) -> None:
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys",
            json={"name": "k", "expires_at": moment},
            headers=owner.auth,
        )
        _problem(response, 422, "expires_at")
        keys = await client.get(f"/v1/projects/{owner.project_id}/keys", headers=owner.auth)
        assert keys.json()["items"] == []

    @pytest.mark.parametrize(
        ("limit", "field"),
        [
            ({"rate": 10, "burst": 2**53 + 1}, "burst"),
            ({"rate": 10, "burst": 10**30}, "burst"),
            ({"rate": 1e300, "burst": 10}, "rate"),
            ({"rate": 0, "burst": 10}, "rate"),
        ],
    )
    async def test_key_rate_limits_beyond_the_quota_kernel_are_refused(
        self, client: httpx.AsyncClient, owner: Tenant, limit: dict[str, float], field: str
    ) -> None:
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys",
            json={"name": "k", "rate_limits": {"logs": limit}},
            headers=owner.auth,
        )
        assert 400 <= response.status_code < 500, response.text
        _problem(response, response.status_code, field)

    def test_the_key_bound_is_the_kernel_bound(self) -> None:
        assert MAX_RATE_UNITS == MAX_UNITS

    @pytest.mark.parametrize(
        "cursor", ["x", "inv_\x00", "inv_" + "9" * 400, "inv_" + "z" * 22 + "\x00"]
    )
    async def test_forged_invoice_cursors_are_refused(
        self, client: httpx.AsyncClient, owner: Tenant, cursor: str
    ) -> None:
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/invoices", params={"cursor": cursor}, headers=owner.auth
        )
        _problem(response, 400, "cursor")

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/projects/{project}%00",
            "/v1/orgs/{org}%00/members",
            "/v1/orgs/{org}/invoices/inv_%00",
            "/v1/orgs/{org}/webhooks/whk_%00/deliveries",
        ],
    )
    async def test_ids_with_nul_are_not_found(
        self, client: httpx.AsyncClient, owner: Tenant, path: str
    ) -> None:
        url = path.format(project=owner.project_id, org=owner.org_id)
        response = await client.get(url, headers=owner.auth)
        # A malformed id names no resource: 404, as every other malformed id.
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM

    @pytest.mark.parametrize("value", ["\x00", "a\x00", quote("\x00")])
    async def test_nul_in_a_list_parameter_is_refused(
        self, client: httpx.AsyncClient, owner: Tenant, value: str
    ) -> None:
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/audit-log", params={"cursor": value}, headers=owner.auth
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == PROBLEM
