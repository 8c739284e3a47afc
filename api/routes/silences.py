"""Project silences and the per-incident notification log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import Ctx, project_permission
from api.deps import DbSession
from api.routes.notifications import delivery_out
from telemetry.notifications import delivery, silences
from telemetry.notifications.models import Silence
from telemetry.notifications.schemas import DeliveryOut, MatcherOut, SilenceCreate, SilenceOut
from tenancy.roles import Permission
from tenancy.schemas import Page

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
READ = {"ctx": project_permission(Permission.ALERTS_READ)}
MANAGE = {"ctx": project_permission(Permission.ALERTS_MANAGE)}


def _out(silence: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=silence.id,
        matchers=[MatcherOut(m["label"], m["op"], m["value"]) for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        comment=silence.comment,
        state=silences.state(silence, now),
        created_by=silence.created_by,
        created_at=silence.created_at,
    )


class SilenceController(Controller):
    """Label matchers whose incidents are kept but not notified."""

    path = "/v1/projects/{project:str}/silences"
    tags = ["alerting"]

    @get("/", operation_id="list_silences", dependencies=READ)
    async def list_silences(
        self,
        project: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[SilenceOut]:
        """The project's silences, oldest first, with their state (pending, active, expired)."""
        rows = await silences.list_page(db_session, ctx, project, cursor, limit)
        now = datetime.now(UTC)
        items = [_out(s, now) for s in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @post("/", operation_id="create_silence", status_code=HTTP_201_CREATED, dependencies=MANAGE)
    async def create_silence(
        self, project: FromPath[str], data: JSONBody[SilenceCreate], db_session: DbSession, ctx: Ctx
    ) -> SilenceOut:
        """A new silence; matchers `=`, `!=`, `=~`, `!~` (regexes match whole values)."""
        matchers = [{"label": m.label, "op": m.op, "value": m.value} for m in data.matchers]
        silence = await silences.create(
            db_session, ctx, project, matchers, data.starts_at, data.ends_at, data.comment
        )
        return _out(silence, datetime.now(UTC))

    @delete(
        "/{silence_id:str}",
        operation_id="delete_silence",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=MANAGE,
    )
    async def delete_silence(
        self, project: FromPath[str], silence_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> None:
        """Delete a silence."""
        await silences.delete(db_session, ctx, project, silence_id)


class IncidentDeliveryController(Controller):
    """What was sent about an incident, to which channel, and how it went."""

    path = "/v1/projects/{project:str}/incidents/{incident_id:str}/deliveries"
    tags = ["alerting"]

    @get("/", operation_id="list_incident_deliveries", dependencies=READ)
    async def list_deliveries(
        self,
        project: FromPath[str],
        incident_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[DeliveryOut]:
        """The incident's deliveries, oldest first."""
        rows = await delivery.incident_log(db_session, ctx, project, incident_id, cursor, limit)
        items = [delivery_out(d) for d in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)
