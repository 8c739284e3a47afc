"""Invoices: the upcoming invoice is the one the close issues; stored lines keep exact prices;
pages, reads and the operator's mark-paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from api.resources import Resources
from billing import invoices
from billing.errors import InvoiceStateError
from billing.plans import PlanCode, add_months, period_at
from billing.quotas.base import Category
from billing.repository import InvoiceRepository
from infra.errors import NotFoundError
from tenancy.models import AuditEvent
from tests.billing.invoicing import all_invoices, close, org_on, put_usage
from tests.billing.support import admit, org_session

M, L, T, S = Category.METRICS, Category.LOGS, Category.TRACES, Category.SPANS
ANCHOR = datetime(2027, 5, 31, 9, tzinfo=UTC)
GB = 10**9


def summary(lines: list[invoices.Line]) -> list[tuple[str, str | None, str, str, str]]:
    return [
        (
            line.kind.value,
            line.category.value if line.category else None,
            f"{line.quantity.normalize():f}",
            f"{line.unit_price.normalize():f}",
            f"{line.amount:f}",
        )
        for line in lines
    ]


class TestUpcoming:
    async def test_the_upcoming_invoice_is_what_the_close_issues(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.SCALE)
        hour = datetime(2027, 6, 10, 4, tzinfo=UTC)
        await put_usage(
            resources,
            tenant,
            hour,
            {
                M: 100_000_000 + 123_456_789,
                L: 100 * GB + 3 * GB + 10_000_000,
                T: 10_000_000 + 500,
                S: 7,
            },
        )
        async with org_session(resources, tenant.org_id) as (session, context):
            preview = await invoices.upcoming(session, context, resources.quotas)
        assert preview.rating.period == period_at(ANCHOR, ANCHOR)
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        ((stored, lines),) = await all_invoices(resources, tenant.org_id)
        assert summary([invoices.line_of(row) for row in lines]) == summary(
            list(preview.rating.lines)
        )
        assert summary(list(preview.rating.lines)) == [
            ("base", None, "1", "200", "200.00"),
            ("overage", "metrics", "123456789", "0.0000001", "12.35"),  # 12.3456789
            ("overage", "logs", "3010000000", "0.0000000005", "1.51"),  # 1.505
            ("overage", "traces", "500", "0.00001", "0.01"),  # 0.005
        ]
        assert stored.total == preview.rating.total == Decimal("213.87")
        assert invoice.id == stored.id

    async def test_usage_still_in_redis_is_in_the_upcoming_invoice(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, datetime.now(UTC) - timedelta(days=2))
        await put_usage(resources, tenant, datetime.now(UTC) - timedelta(days=1), {M: 10_000_000})
        assert (await admit(resources, tenant, {M: 1_000_000})).accepted  # not flushed yet
        async with org_session(resources, tenant.org_id) as (session, context):
            preview = await invoices.upcoming(session, context, resources.quotas)
        metrics = [line for line in preview.rating.lines if line.category is M]
        assert metrics[0].quantity == 1_000_000
        assert preview.rating.total == Decimal("50.10")

    async def test_an_operator_override_of_included_units_is_rated(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        response = await client.put(
            f"/v1/admin/orgs/{tenant.org_id}/overrides",
            json={"included": {"logs": 20 * GB}},
            headers={"Authorization": "Bearer tga_test_operator_token"},
        )
        assert response.status_code == 200, response.text
        await put_usage(resources, tenant, datetime(2027, 6, 1, tzinfo=UTC), {L: 21 * GB})
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        assert invoice.total == Decimal("50.50")


class TestReading:
    async def test_pages_are_newest_first_with_a_cursor(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        issued = await close(resources, tenant.org_id, add_months(ANCHOR, 5))
        assert len(issued) == 5
        seen = []
        cursor = None
        async with org_session(resources, tenant.org_id) as (session, context):
            while True:
                page, cursor = await invoices.list_invoices(session, context, cursor, 2)
                seen += [invoice.id for invoice, lines in page]
                assert all(len(lines) == 4 for _, lines in page)
                if cursor is None:
                    break
        assert seen == [invoice.id for invoice in reversed(issued)]

    async def test_another_org_s_invoice_is_not_found(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        owner = await org_on(client, resources, ANCHOR, name="owner")
        other = await org_on(client, resources, ANCHOR, name="other")
        (invoice,) = await close(resources, owner.org_id, add_months(ANCHOR, 1))
        async with org_session(resources, other.org_id) as (session, context):
            with pytest.raises(NotFoundError):
                await invoices.get_invoice(session, context, invoice.id)
            with pytest.raises(NotFoundError):
                await invoices.mark_paid(session, context, invoice.id)


class TestMarkPaid:
    async def test_the_operator_marks_an_open_invoice_paid_once(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        at = add_months(ANCHOR, 1) + timedelta(days=2)
        async with org_session(resources, tenant.org_id) as (session, context):
            paid = await invoices.mark_paid(session, context, invoice.id, now=at)
            again = await invoices.mark_paid(
                session, context, invoice.id, now=at + timedelta(days=1)
            )
            events = (
                await session.scalars(select(AuditEvent).where(AuditEvent.action == "invoice.paid"))
            ).all()
        assert (paid.status, paid.paid_at) == ("paid", at)
        assert again.paid_at == at
        assert [e.target_id for e in events] == [invoice.id]

    async def test_a_void_invoice_cannot_be_paid(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        async with org_session(resources, tenant.org_id) as (session, context):
            stored = await InvoiceRepository(session, context).get(invoice.id)
            assert stored is not None
            stored.status = "void"
            await session.flush()
            with pytest.raises(InvoiceStateError):
                await invoices.mark_paid(session, context, invoice.id)
