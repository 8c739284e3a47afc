"""Request and response bodies of channels, escalation policies, silences and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
ChannelType = Literal["email", "slack", "pagerduty", "webhook", "sms"]
ChannelId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are an error."""


class ChannelCreate(Input):
    """`email {"to"}`, `slack {"url"}`, `pagerduty {"routing_key"}`, `webhook {"url"}`,
    `sms {"to", "token"}`."""

    name: Name
    type: ChannelType
    config: dict[str, Any]
    enabled: bool = True


class ChannelUpdate(Input):
    """Only the fields sent change; config fields left out keep their value (secrets too)."""

    name: Name | None = None
    config: dict[str, Any] | None = None
    enabled: bool | None = None


class ChannelOut(msgspec.Struct, kw_only=True):
    """A channel; secrets appear masked (`…abcd`)."""

    id: str
    name: str
    type: str
    config: dict[str, Any]
    enabled: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ChannelCreated(ChannelOut, kw_only=True):
    """A webhook channel's signing secret (`whsec_…`) is in the creation response only."""

    secret: str | None = None


class Step(Input):
    after_minutes: Annotated[int, msgspec.Meta(ge=0, le=10_080)]
    channels: Annotated[list[ChannelId], msgspec.Meta(min_length=1, max_length=50)]


class PolicyCreate(Input):
    name: Name
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=10)]


class PolicyUpdate(Input):
    name: Name | None = None
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=10)] | None = None


class StepOut(msgspec.Struct):
    after_minutes: int
    channels: list[str]


class PolicyOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    steps: list[StepOut]
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Matcher(Input):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    op: Literal["=", "!=", "=~", "!~"]
    value: Annotated[str, msgspec.Meta(max_length=256, pattern=NO_NUL)]


class SilenceCreate(Input):
    matchers: Annotated[list[Matcher], msgspec.Meta(min_length=1, max_length=20)]
    ends_at: datetime
    starts_at: datetime | None = None
    comment: Annotated[str, msgspec.Meta(max_length=1000, pattern=NO_NUL)] = ""


class MatcherOut(msgspec.Struct):
    label: str
    op: str
    value: str


class SilenceOut(msgspec.Struct, kw_only=True):
    id: str
    matchers: list[MatcherOut]
    starts_at: datetime
    ends_at: datetime
    comment: str
    state: str
    created_by: str | None
    created_at: datetime | None = None


class DeliveryOut(msgspec.Struct, kw_only=True):
    """One message to one channel and how its attempts went."""

    id: str
    incident_id: str | None
    channel_id: str
    kind: str
    step: int | None
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    scheduled_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime | None
