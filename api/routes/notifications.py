"""Org notification channels (with a test send) and escalation policies."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import Ctx, org_permission
from api.deps import AppResources, DbSession
from api.resources import Resources
from infra.mail import mailer_from_settings
from telemetry.notifications import channels, delivery, policies
from telemetry.notifications.models import (
    EscalationPolicy,
    NotificationChannel,
    NotificationDelivery,
)
from telemetry.notifications.schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelOut,
    ChannelUpdate,
    DeliveryOut,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    StepOut,
)
from telemetry.notifications.senders import Providers, Transport
from tenancy.roles import Permission
from tenancy.schemas import Page

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
READ = {"ctx": org_permission(Permission.ALERTS_READ)}
MANAGE = {"ctx": org_permission(Permission.ALERTS_MANAGE)}


def channel_policy(resources: Resources) -> channels.Policy:
    """What channels may point at here (http outside production; sms once configured)."""
    settings = resources.settings
    return channels.Policy(
        allow_http=settings.env != "prod", sms_enabled=bool(settings.sms_api_url)
    )


def _channel_out(channel: NotificationChannel, resources: Resources) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        name=channel.name,
        type=channel.type,
        config=channels.public_config(channel, resources.secret_box),
        enabled=channel.enabled,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


def delivery_out(row: NotificationDelivery) -> DeliveryOut:
    """A delivery as the API shows it."""
    return DeliveryOut(
        id=row.id,
        incident_id=row.incident_id,
        channel_id=row.channel_id,
        kind=row.kind,
        step=row.step,
        status=row.status,
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        scheduled_at=row.scheduled_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def _policy_out(policy: EscalationPolicy) -> PolicyOut:
    return PolicyOut(
        id=policy.id,
        name=policy.name,
        steps=[StepOut(s["after_minutes"], list(s["channels"])) for s in policy.steps],
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


class NotificationChannelController(Controller):
    """Where an org's alerts go: email, Slack, PagerDuty, webhooks, SMS."""

    path = "/v1/orgs/{org:str}/notification-channels"
    tags = ["alerting"]

    @get("/", operation_id="list_notification_channels", dependencies=READ)
    async def list_channels(
        self,
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[ChannelOut]:
        """The org's channels, oldest first (secrets masked)."""
        rows = await channels.list_page(db_session, ctx, cursor, limit)
        items = [_channel_out(c, resources) for c in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @post(
        "/",
        operation_id="create_notification_channel",
        status_code=HTTP_201_CREATED,
        dependencies=MANAGE,
    )
    async def create_channel(
        self,
        data: JSONBody[ChannelCreate],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> ChannelCreated:
        """A new channel; a webhook channel's signing secret is in this response only."""
        created = await channels.create(
            db_session,
            ctx,
            data.name,
            data.type,
            data.config,
            data.enabled,
            resources.secret_box,
            channel_policy(resources),
        )
        shown = _channel_out(created.channel, resources)
        return ChannelCreated(
            **{f: getattr(shown, f) for f in shown.__struct_fields__}, secret=created.secret
        )

    @get("/{channel_id:str}", operation_id="get_notification_channel", dependencies=READ)
    async def get_channel(
        self, channel_id: FromPath[str], db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> ChannelOut:
        """One channel (secrets masked)."""
        return _channel_out(await channels.get(db_session, ctx, channel_id), resources)

    @patch("/{channel_id:str}", operation_id="update_notification_channel", dependencies=MANAGE)
    async def update_channel(
        self,
        channel_id: FromPath[str],
        data: JSONBody[ChannelUpdate],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> ChannelOut:
        """Rename, enable/disable or change the config of a channel."""
        channel = await channels.update(
            db_session,
            ctx,
            channel_id,
            name=data.name,
            config=data.config,
            enabled=data.enabled,
            box=resources.secret_box,
            policy=channel_policy(resources),
        )
        return _channel_out(channel, resources)

    @delete(
        "/{channel_id:str}",
        operation_id="delete_notification_channel",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=MANAGE,
    )
    async def delete_channel(
        self, channel_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> None:
        """Delete a channel and its delivery log."""
        await channels.delete(db_session, ctx, channel_id)

    @post(
        "/{channel_id:str}/test",
        operation_id="test_notification_channel",
        status_code=HTTP_200_OK,
        dependencies=MANAGE,
    )
    async def test_channel(
        self, channel_id: FromPath[str], db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> DeliveryOut:
        """Send a test message now (one attempt, through the guarded client) and say how it went."""
        channel = await channels.get(db_session, ctx, channel_id)
        transport = Transport(
            resources.outbound,
            mailer_from_settings(resources.settings),
            Providers.from_settings(resources.settings),
        )
        sent = await delivery.send_test(
            db_session, ctx, channel, transport=transport, box=resources.secret_box
        )
        return delivery_out(sent)


class EscalationPolicyController(Controller):
    """Ordered steps of channels notified while an incident is not acknowledged."""

    path = "/v1/orgs/{org:str}/escalation-policies"
    tags = ["alerting"]

    @get("/", operation_id="list_escalation_policies", dependencies=READ)
    async def list_policies(
        self,
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[PolicyOut]:
        """The org's policies, oldest first."""
        rows = await policies.list_page(db_session, ctx, cursor, limit)
        items = [_policy_out(p) for p in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @post(
        "/",
        operation_id="create_escalation_policy",
        status_code=HTTP_201_CREATED,
        dependencies=MANAGE,
    )
    async def create_policy(
        self, data: JSONBody[PolicyCreate], db_session: DbSession, ctx: Ctx
    ) -> PolicyOut:
        """A new policy; every step's channels must be the org's."""
        steps = [{"after_minutes": s.after_minutes, "channels": s.channels} for s in data.steps]
        return _policy_out(await policies.create(db_session, ctx, data.name, steps))

    @get("/{policy_id:str}", operation_id="get_escalation_policy", dependencies=READ)
    async def get_policy(
        self, policy_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> PolicyOut:
        """One policy."""
        return _policy_out(await policies.get(db_session, ctx, policy_id))

    @patch("/{policy_id:str}", operation_id="update_escalation_policy", dependencies=MANAGE)
    async def update_policy(
        self,
        policy_id: FromPath[str],
        data: JSONBody[PolicyUpdate],
        db_session: DbSession,
        ctx: Ctx,
    ) -> PolicyOut:
        """Rename a policy or replace its steps."""
        steps = (
            None
            if data.steps is None
            else [{"after_minutes": s.after_minutes, "channels": s.channels} for s in data.steps]
        )
        return _policy_out(await policies.update(db_session, ctx, policy_id, data.name, steps))

    @delete(
        "/{policy_id:str}",
        operation_id="delete_escalation_policy",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=MANAGE,
    )
    async def delete_policy(
        self, policy_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> None:
        """Delete a policy."""
        await policies.delete(db_session, ctx, policy_id)
