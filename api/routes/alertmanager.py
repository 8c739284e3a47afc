"""The internal Alertmanager-v2-compatible receiver vmalert notifies (never a tenant route).

Only the shared notifier secret (`VMALERT_NOTIFIER_SECRET`) opens it; tenant sessions and keys
are refused like no credentials at all, and the route is left out of the public schema.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, Request, post
from litestar.status_codes import HTTP_200_OK

from api.deps import AppResources, DbSession
from infra.errors import UnauthenticatedError
from infra.local.vmalert import RECEIVER_PATH, notifier_secret
from telemetry.alerting import receiver


def _check_secret(request: Request[Any, Any, Any], resources: AppResources) -> None:
    """401 unless the request carries vmalert's notifier secret (constant-time comparison)."""
    expected = notifier_secret(resources.settings)
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), expected.encode())
    ):
        raise UnauthenticatedError("This receiver only accepts vmalert's notifier secret")


class AlertmanagerReceiverController(Controller):
    """`POST /internal/alertmanager/api/v2/alerts`, as vmalert's `-notifier.url` calls it."""

    path = RECEIVER_PATH
    include_in_schema = False

    @post("/api/v2/alerts", operation_id="internal_receive_alerts", status_code=HTTP_200_OK)
    async def receive(
        self, request: Request[Any, Any, Any], db_session: DbSession, resources: AppResources
    ) -> dict[str, int]:
        """Turn vmalert's alerts into incidents (fire, renew, resolve, reopen)."""
        _check_secret(request, resources)
        alerts = receiver.decode(await request.body())
        outcome = await receiver.receive(db_session, alerts)
        return {"fired": outcome.fired, "resolved": outcome.resolved, "ignored": outcome.ignored}
