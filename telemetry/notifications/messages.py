"""What each channel type is sent: Slack blocks, PagerDuty Events v2, webhook, email, SMS text.

Every renderer takes the delivery's `payload` (facts fixed when the delivery was queued) and its
kind, so a retry sends the same message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.mail import Mail

HEADLINES = {
    "trigger": "FIRING",
    "escalate": "ESCALATED",
    "acknowledge": "ACKNOWLEDGED",
    "resolve": "RESOLVED",
    "test": "TEST",
}
EVENT_TYPES = {
    "trigger": "incident.triggered",
    "escalate": "incident.escalated",
    "acknowledge": "incident.acknowledged",
    "resolve": "incident.resolved",
    "test": "notification.test",
}
PAGERDUTY_ACTIONS = {
    "trigger": "trigger",
    "escalate": "trigger",
    "test": "trigger",
    "acknowledge": "acknowledge",
    "resolve": "resolve",
}
PAGERDUTY_SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}
SMS_LIMIT = 320
SUMMARY_LIMIT = 1024  # PagerDuty's limit for payload.summary


def summary(facts: Mapping[str, Any]) -> str:
    """One line: the rule's summary annotation, or its name and what happened."""
    if facts.get("test"):
        return f"Test notification from Tollgate for channel {facts.get('channel_name', '')}"
    annotations = facts.get("annotations") or {}
    text = str(annotations.get("summary") or f"{facts.get('rule_name', 'alert')} is firing")
    return text[:SUMMARY_LIMIT]


def title(kind: str, facts: Mapping[str, Any]) -> str:
    """`[FIRING] <summary>` and the like."""
    return f"[{HEADLINES[kind]}] {summary(facts)}"


def _lines(facts: Mapping[str, Any]) -> list[str]:
    if facts.get("test"):
        return ["If you can read this, the channel works."]
    lines = [
        f"Rule: {facts.get('rule_name', '')}",
        f"Severity: {facts.get('severity', '')}",
        f"Incident: {facts.get('incident_id', '')} (project {facts.get('project_id', '')})",
        f"Started: {facts.get('started_at', '')}",
    ]
    if facts.get("value") is not None:
        lines.append(f"Value: {facts['value']}")
    labels = facts.get("labels") or {}
    if labels:
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    description = (facts.get("annotations") or {}).get("description")
    if description:
        lines.append(f"Description: {description}")
    if facts.get("resolution"):
        lines.append(f"Resolution: {facts['resolution']}")
    if facts.get("step") is not None:
        lines.append(f"Escalation step: {int(facts['step']) + 1}")
    return lines


def slack(kind: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message: `text` (notifications, fallbacks) and `blocks`."""
    text = title(kind, facts)
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": text[:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(_lines(facts))[:3000]},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Tollgate · {EVENT_TYPES[kind]}"}],
            },
        ],
    }


def pagerduty(
    kind: str, facts: Mapping[str, Any], routing_key: str, dedup_key: str
) -> dict[str, Any]:
    """An Events API v2 event; the incident id is the dedup_key of trigger, ack and resolve."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": PAGERDUTY_ACTIONS[kind],
        "dedup_key": dedup_key,
    }
    if event["event_action"] == "trigger":
        event["client"] = "Tollgate"
        event["payload"] = {
            "summary": summary(facts),
            "severity": PAGERDUTY_SEVERITIES.get(str(facts.get("severity")), "info"),
            "source": f"tollgate/{facts.get('project_id') or 'test'}",
            "component": str(facts.get("rule_name", ""))[:255] or None,
            "custom_details": {
                "labels": facts.get("labels") or {},
                "annotations": facts.get("annotations") or {},
                "value": facts.get("value"),
                "started_at": facts.get("started_at"),
            },
        }
    return event


def webhook(kind: str, facts: Mapping[str, Any], timestamp: str) -> dict[str, Any]:
    """The Standard Webhooks body: `type`, `timestamp`, `data` (the incident facts)."""
    return {"type": EVENT_TYPES[kind], "timestamp": timestamp, "data": dict(facts)}


def email(kind: str, facts: Mapping[str, Any], to: str) -> Mail:
    """A plain-text mail."""
    return Mail(to=to, subject=title(kind, facts)[:200], text="\n".join(_lines(facts)) + "\n")


def sms(kind: str, facts: Mapping[str, Any]) -> str:
    """A short text."""
    return title(kind, facts)[:SMS_LIMIT]
