"""Notification channels: validated config, secrets encrypted at rest and shown masked."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from infra import webhooks as signing
from infra.crypto import SecretBox
from infra.cursors import id_cursor
from infra.errors import NotFoundError, ValidationError
from infra.ids import looks_like_id, new_id
from telemetry.notifications.models import CHANNEL_TYPES, NotificationChannel
from telemetry.notifications.repository import NotificationRepository
from tenancy import audit
from tenancy.context import TenantContext

MAX_CHANNELS = 50
MAX_RECIPIENTS = 10
MAX_PAGE = 200
_EMAIL = re.compile(r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,255}\.[^@\s\x00]{1,63}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
_ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{20,64}$")
_TOKEN = re.compile(r"^[\x21-\x7e]{8,512}$")
# Which config keys each type takes, and which of them are secrets (encrypted, never returned).
FIELDS: Mapping[str, tuple[str, ...]] = {
    "email": ("to",),
    "slack": ("url",),
    "pagerduty": ("routing_key",),
    "webhook": ("url",),
    "sms": ("to", "token"),
}
SECRETS: Mapping[str, tuple[str, ...]] = {
    "email": (),
    "slack": ("url",),
    "pagerduty": ("routing_key",),
    "webhook": ("secret",),  # generated, shown once
    "sms": ("token",),
}


@dataclass(frozen=True)
class Policy:
    """What a channel may point at in this process."""

    allow_http: bool
    sms_enabled: bool


@dataclass(frozen=True)
class NewChannel:
    """A channel and, for webhooks, its signing secret (shown once)."""

    channel: NotificationChannel
    secret: str | None


def mask(value: str) -> str:
    """A hint of a secret: its last four characters."""
    return "…" + value[-4:] if len(value) > 8 else "…"


def _url(value: object, field: str, policy: Policy) -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= 2000 or "\x00" in value:
        raise ValidationError(f"{field}: must be a URL of 8 to 2000 characters", field=field)
    parts = urlsplit(value.strip())
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValidationError(
            f"{field}: must be an absolute {' or '.join(schemes)} URL", field=field
        )
    if parts.username or parts.password:
        raise ValidationError(f"{field}: must not carry credentials", field=field)
    return value.strip()


def _list(value: object, field: str, pattern: re.Pattern[str], what: str) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RECIPIENTS:
        raise ValidationError(f"{field}: give 1 to {MAX_RECIPIENTS} {what}s", field=field)
    for item in value:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise ValidationError(f"{field}: {str(item)[:80]!r} is not a valid {what}", field=field)
    return sorted(set(value))


def _check(
    kind: str, config: Mapping[str, Any], policy: Policy
) -> tuple[dict[str, Any], dict[str, str]]:
    """(public config, secrets) of a complete config of this type."""
    unknown = sorted(set(config) - set(FIELDS[kind]))
    if unknown:
        raise ValidationError(
            f"config: unknown field {unknown[0]!r} for a {kind} channel "
            f"(takes {', '.join(FIELDS[kind])})",
            field=f"config.{unknown[0]}",
        )
    for key in FIELDS[kind]:
        if key not in config:
            raise ValidationError(
                f"config.{key}: required for a {kind} channel", field=f"config.{key}"
            )
    if kind == "email":
        return {"to": _list(config["to"], "config.to", _EMAIL, "email address")}, {}
    if kind == "slack":
        return {}, {"url": _url(config["url"], "config.url", policy)}
    if kind == "webhook":
        return {"url": _url(config["url"], "config.url", policy)}, {}
    if kind == "pagerduty":
        key = config["routing_key"]
        if not isinstance(key, str) or not _ROUTING_KEY.fullmatch(key):
            raise ValidationError(
                "config.routing_key: an Events API v2 integration key (20-64 letters or digits)",
                field="config.routing_key",
            )
        return {}, {"routing_key": key}
    if not policy.sms_enabled:
        raise ValidationError("type: sms channels need SMS_API_URL to be configured", field="type")
    token = config["token"]
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValidationError("config.token: 8 to 512 printable characters", field="config.token")
    return {"to": _list(config["to"], "config.to", _PHONE, "E.164 phone number")}, {"token": token}


def secrets_of(channel: NotificationChannel, box: SecretBox) -> dict[str, str]:
    """The channel's decrypted secrets."""
    if channel.secret_encrypted is None:
        return {}
    loaded: dict[str, str] = json.loads(box.decrypt(channel.secret_encrypted))
    return loaded


def public_config(channel: NotificationChannel, box: SecretBox) -> dict[str, Any]:
    """The config as the API shows it: public fields, and each secret masked."""
    shown = dict(channel.config)
    for key, value in secrets_of(channel, box).items():
        shown[key] = (
            f"{urlsplit(value).scheme}://{urlsplit(value).hostname}/{mask(value)}"
            if (key == "url")
            else mask(value)
        )
    return shown


def _store(
    channel: NotificationChannel, public: dict[str, Any], secret: dict[str, str], box: SecretBox
) -> None:
    channel.config = public
    channel.secret_encrypted = box.encrypt(json.dumps(secret)) if secret else None


def _check_type(kind: str) -> str:
    if kind not in CHANNEL_TYPES:
        raise ValidationError(f"type: one of {', '.join(CHANNEL_TYPES)}", field="type")
    return kind


async def create(
    session: AsyncSession,
    context: TenantContext,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    enabled: bool,
    box: SecretBox,
    policy: Policy,
) -> NewChannel:
    """A new channel (a webhook gets a fresh `whsec_` signing secret); audited."""
    repository = NotificationRepository(session, context)
    if await repository.count(NotificationChannel) >= MAX_CHANNELS:
        raise ValidationError(f"an organization has at most {MAX_CHANNELS} notification channels")
    public, secret = _check(_check_type(kind), config, policy)
    generated = signing.generate_secret() if kind == "webhook" else None
    if generated is not None:
        secret["secret"] = generated
    channel = NotificationChannel(
        id=new_id("nch"), name=name, type=kind, enabled=enabled, created_by=context.actor.id
    )
    _store(channel, public, secret, box)
    await repository.add(channel)
    await audit.record(
        session,
        context,
        "notification_channel.created",
        "notification_channel",
        channel.id,
        name=name,
        type=kind,
    )
    return NewChannel(channel, generated)


async def get(
    session: AsyncSession, context: TenantContext, channel_id: str
) -> NotificationChannel:
    """A channel of the org, or 404."""
    if not looks_like_id(channel_id, "nch"):
        raise NotFoundError("Notification channel not found")
    channel = await NotificationRepository(session, context).get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFoundError("Notification channel not found")
    return channel


async def list_page(
    session: AsyncSession, context: TenantContext, after: str | None, limit: int
) -> Sequence[NotificationChannel]:
    """A page of the org's channels, oldest first."""
    after = id_cursor(after, "nch")
    return await NotificationRepository(session, context).page(
        NotificationChannel, after, min(limit, MAX_PAGE)
    )


async def update(
    session: AsyncSession,
    context: TenantContext,
    channel_id: str,
    *,
    name: str | None,
    config: Mapping[str, Any] | None,
    enabled: bool | None,
    box: SecretBox,
    policy: Policy,
) -> NotificationChannel:
    """Change name, enabled or config (secret fields left out keep their value); audited."""
    channel = await get(session, context, channel_id)
    if config is not None:
        old_secret = secrets_of(channel, box)
        merged = {
            **channel.config,
            **{k: v for k, v in old_secret.items() if k in FIELDS[channel.type]},
        }
        merged.update(config)
        public, secret = _check(channel.type, merged, policy)
        if "secret" in old_secret:
            secret["secret"] = old_secret["secret"]
        _store(channel, public, secret, box)
    if name is not None:
        channel.name = name
    if enabled is not None:
        channel.enabled = enabled
    channel.updated_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        context,
        "notification_channel.updated",
        "notification_channel",
        channel.id,
        fields=sorted(
            k
            for k, v in (("name", name), ("config", config), ("enabled", enabled))
            if v is not None
        ),
    )
    return channel


async def delete(session: AsyncSession, context: TenantContext, channel_id: str) -> None:
    """Delete a channel and its delivery log; pending retries find nothing to send; audited."""
    channel = await get(session, context, channel_id)
    await NotificationRepository(session, context).delete(channel)
    await audit.record(
        session,
        context,
        "notification_channel.deleted",
        "notification_channel",
        channel.id,
        name=channel.name,
    )


async def check_ids(
    session: AsyncSession, context: TenantContext, ids: Sequence[str], field: str
) -> list[str]:
    """The ids, each a channel of this org; 422 naming the field otherwise."""
    found = {
        c.id
        for c in await NotificationRepository(session, context).channels(
            [i for i in ids if looks_like_id(i, "nch")]
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError(
            f"{field}: no channel {missing[0][:40]!r} in this organization", field=field
        )
    return list(dict.fromkeys(ids))
