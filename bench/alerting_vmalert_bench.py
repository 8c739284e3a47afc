"""10,000 metric rules at a 30 s interval across vmalert shards: evaluations done vs due, CPU per
evaluation, and the reload time after one edited rule (issue 12, item 7a).

Run: `.venv/bin/python bench/alerting_vmalert_bench.py [seconds] [rules] [shards]` (defaults:
300 s, 10,000 rules, 2 shards). It starts its own VictoriaMetrics and vmalert processes on free
loopback ports in a temporary directory, renders the rules with Tollgate's renderer (100 rules per
project, pinned with extra_label) and stops everything at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from infra.local import vmalert
from infra.local.victoriametrics import ensure_binary
from infra.settings import PROJECT_ROOT, Tier
from telemetry.alerting import vmalert_files
from telemetry.alerting.models import AlertRule

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0
RULES = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
SHARDS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
PER_PROJECT = 100
INTERVAL = 30
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def metric_sum(url: str, name: str) -> float:
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rules_of(org: str, project: str, first: int) -> list[AlertRule]:
    now = datetime.now(UTC)
    return [
        AlertRule(
            id=f"alr_{n:022d}",
            org_id=org,
            project_id=project,
            name=f"r{n}",
            kind="metric",
            expr=f'bench_load{{i="{n % PER_PROJECT}"}} > 0.5',
            for_seconds=0,
            interval_seconds=INTERVAL,
            severity="warning",
            labels={},
            annotations={},
            enabled=True,
            created_at=now,
        )
        for n in range(first, first + PER_PROJECT)
    ]


def main() -> None:
    binary = ensure_binary(PROJECT_ROOT / ".cache")
    work = Path(tempfile.mkdtemp(prefix="tollgate-vmalert-bench-"))
    vm_port = free_port()
    vm = subprocess.Popen(
        [
            str(binary),
            f"-httpListenAddr=127.0.0.1:{vm_port}",
            f"-storageDataPath={work / 'vm'}",
            "-retentionPeriod=1d",
            "-memory.allowedBytes=268435456",
            "-search.latencyOffset=1s",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    vm_url = f"http://127.0.0.1:{vm_port}"
    alerters: list[vmalert.VmalertInstance] = []
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{vm_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        projects = RULES // PER_PROJECT
        for p in range(projects):
            org, project = f"org_{p:022d}", f"prj_{p:022d}"
            body = "".join(f'bench_load{{i="{i}"}} {i % 2}\n' for i in range(PER_PROJECT))
            httpx.post(
                f"{vm_url}/api/v1/import/prometheus",
                params=[("extra_label", f"tenant={org}"), ("extra_label", f"project={project}")],
                content=body,
                timeout=10,
            )
            content = vmalert_files.render(org, project, rules_of(org, project, p * PER_PROJECT))
            shard = vmalert_files.shard_of(project, SHARDS)
            target = work / f"shard-{shard}" / f"{project}.yml"
            target.parent.mkdir(parents=True, exist_ok=True)
            assert content is not None
            target.write_text(content)
        sink = work / "sink"
        for shard in range(SHARDS):
            instance = vmalert.VmalertInstance(
                tier=Tier.SHORT,
                shard=shard,
                port=free_port(),
                rules_dir=work / f"shard-{shard}",
                datasource_url=vm_url,
                remote_url=vm_url,
                notifier_url=f"http://127.0.0.1:{free_port()}/{sink.name}",  # nobody: dropped
                secret="bench",  # noqa: S106 (a throwaway local process)
            )
            vmalert.start(instance, binary.parent / "vmalert")
            alerters.append(instance)
        pids = [int(a.pid_file.read_text()) for a in alerters]
        time.sleep(INTERVAL)  # groups start spread over the first interval
        start_cpu = [cpu_seconds(pid) for pid in pids]
        start_iters = [metric_sum(a.url, "vmalert_iteration_total") for a in alerters]
        started = time.monotonic()
        time.sleep(SECONDS)
        elapsed = time.monotonic() - started
        iters = [
            metric_sum(a.url, "vmalert_iteration_total") - s
            for a, s in zip(alerters, start_iters, strict=True)
        ]
        missed = sum(metric_sum(a.url, "vmalert_iteration_missed_total") for a in alerters)
        cpu = sum(cpu_seconds(pid) - c for pid, c in zip(pids, start_cpu, strict=True))
        groups = projects  # one group per project (one interval)
        due_iterations = groups * elapsed / INTERVAL
        done_evaluations = sum(iters) * PER_PROJECT
        due_evaluations = RULES * elapsed / INTERVAL
        print(f"rules={RULES} shards={SHARDS} interval={INTERVAL}s window={elapsed:.0f}s")
        print(
            f"group iterations done/due: {sum(iters):.0f}/{due_iterations:.0f} "
            f"({100 * sum(iters) / due_iterations:.1f} %), missed iterations: {missed:.0f}"
        )
        print(f"rule evaluations done/due: {done_evaluations:.0f}/{due_evaluations:.0f}")
        print(
            f"vmalert CPU: {cpu:.1f} s total, {1e6 * cpu / max(done_evaluations, 1):.0f} µs "
            f"per evaluation (VictoriaMetrics' query CPU not included)"
        )
        edited = next(iter(sorted((work / "shard-0").glob("prj_*.yml"))))
        edited.write_text(edited.read_text().replace("> 0.5", "> 0.25", 1))
        t0 = time.monotonic()
        vmalert.reload(alerters[0].url, timeout=60)
        print(f"reload of shard 0 after one edited rule: {1000 * (time.monotonic() - t0):.0f} ms")
    finally:
        for instance in alerters:
            vmalert.stop(instance)
        vm.terminate()
        vm.wait(10)


if __name__ == "__main__":
    main()
