"""Metric rules rendered into vmalert rule files: one file per project, in its shard's directory.

Every group pins the project twice: `params.extra_label` (vmalert adds it to each datasource
query, and VictoriaMetrics ANDs it into every selector) and group `labels` (so alerts and any
recording output carry the tenant; vmalert 1.79 stores recording output without them otherwise).
A project's rules split into one group per evaluation interval, since a vmalert group has one.
A new file is checked with `vmalert -dryRun` before it replaces the old one: vmalert refuses a
whole reload when one file is broken, so one project must never stop a shard's reloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.local.vmalert import shard_dir
from infra.settings import Settings, Tier
from telemetry.alerting.models import AlertRule
from telemetry.alerting.receiver import RULE_LABEL, VALUE_ANNOTATION
from telemetry.alerting.rule_body import duration_text

RELOAD_BATCH_SECONDS: Final = 5.0
PENDING_MARKER: Final = "reload.pending"
DONE_MARKER: Final = "reload.done"


def shard_of(project_id: str, shards: int) -> int:
    """The shard a project's rules run on: a stable hash, the same in every process."""
    digest = hashlib.sha256(project_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def project_file(settings: Settings, tier: Tier, project_id: str) -> Path:
    """Where a project's rule file lives for a tier."""
    return shard_dir(settings, tier, shard_of(project_id, settings.vmalert_shards)) / (
        f"{project_id}.yml"
    )


def render(org_id: str, project_id: str, rules: Sequence[AlertRule]) -> str | None:
    """The rule file of a project's enabled metric rules (JSON, which YAML reads); None if none."""
    by_interval: dict[int, list[AlertRule]] = defaultdict(list)
    for rule in rules:
        if rule.kind == "metric" and rule.enabled:
            by_interval[rule.interval_seconds].append(rule)
    if not by_interval:
        return None
    groups: list[dict[str, Any]] = []
    for interval, members in sorted(by_interval.items()):
        groups.append(
            {
                "name": f"{project_id}/{interval}s",
                "interval": f"{interval}s",
                "params": {"extra_label": [f"tenant={org_id}", f"project={project_id}"]},
                "labels": {"tenant": org_id, "project": project_id},
                "rules": [_rule(rule) for rule in sorted(members, key=lambda r: r.id)],
            }
        )
    return json.dumps({"groups": groups}, indent=1, sort_keys=True) + "\n"


def _rule(rule: AlertRule) -> dict[str, Any]:
    return {
        "alert": rule.id,
        "expr": rule.expr,
        "for": duration_text(rule.for_seconds),
        "labels": {**rule.labels, "severity": rule.severity, RULE_LABEL: rule.id},
        "annotations": {**rule.annotations, VALUE_ANNOTATION: "{{ $value }}"},
    }


@dataclass(frozen=True)
class WriteResult:
    """What writing a project's file did: `changed` shards need a reload; `error` if refused."""

    changed: list[tuple[Tier, int]]
    error: str | None = None


def dry_run(binary: Path, content: str) -> str | None:
    """vmalert's own verdict on a rule file: None when it loads, else the reason."""
    with tempfile.TemporaryDirectory(prefix="tollgate-vmalert-check-") as scratch:
        path = Path(scratch) / "check.yml"
        path.write_text(content)
        result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [str(binary), "-dryRun", f"-rule={path}", "-loggerLevel=ERROR"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={},  # no %{ENV} placeholder can reach this process's environment
        )
    if result.returncode == 0:
        return None
    reason = (result.stderr or result.stdout).strip().splitlines()
    return (reason[-1] if reason else f"vmalert exited {result.returncode}")[-900:]


def write_project(
    settings: Settings,
    binary: Path | None,
    tier: Tier,
    project_id: str,
    content: str | None,
) -> WriteResult:
    """Put the project's file in its tier's shard (removing it from other tiers)."""
    changed: list[tuple[Tier, int]] = []
    shard = shard_of(project_id, settings.vmalert_shards)
    for each in Tier:
        path = project_file(settings, each, project_id)
        wanted = content if each is tier else None
        current = path.read_text() if path.exists() else None
        if current == wanted:
            continue
        if wanted is None:
            path.unlink(missing_ok=True)
        else:
            if binary is not None:
                error = dry_run(binary, wanted)
                if error is not None:
                    return WriteResult(changed, error)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                handle.write(wanted)
            os.replace(tmp, path)
        changed.append((each, shard))
    return WriteResult(changed)


def stale_files(settings: Settings, keep: set[str]) -> list[Path]:
    """Rule files of projects not in `keep` (every project with metric rules)."""
    found: list[Path] = []
    for tier in Tier:
        for shard in range(settings.vmalert_shards):
            directory = shard_dir(settings, tier, shard)
            if directory.is_dir():
                found.extend(p for p in directory.glob("prj_*.yml") if p.stem not in keep)
    return found


def reload_delay(settings: Settings, tier: Tier, shard: int) -> float | None:
    """Claim the shard's next reload: the delay to run it after (batched to one per ~5 s), or
    None when a reload is already pending (it will read this change too)."""
    directory = shard_dir(settings, tier, shard)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(directory / PENDING_MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return None
    try:
        last = (directory / DONE_MARKER).stat().st_mtime
    except FileNotFoundError:
        return 0.0
    return max(0.0, RELOAD_BATCH_SECONDS - (time.time() - last))


def mark_reloading(settings: Settings, tier: Tier, shard: int) -> None:
    """Release the pending claim (before reading files) and stamp the reload time."""
    directory = shard_dir(settings, tier, shard)
    (directory / PENDING_MARKER).unlink(missing_ok=True)
    (directory / DONE_MARKER).touch()
