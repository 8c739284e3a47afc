"""Prometheus exposition: HTTP metrics from Litestar's middleware plus queue depth and lag."""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from infra.settings import Settings

QUEUE_KEY = "tollgate:default"
HEARTBEAT_KEY = "tg:worker:heartbeat"


class QueueCollector(Collector):
    """Reads the job queue's depth and the last heartbeat's lag from Redis at scrape time."""

    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=1.0)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield queue depth, queue lag and seconds since a worker last answered."""
        depth = GaugeMetricFamily("tollgate_queue_depth", "Jobs waiting", labels=["queue"])
        lag = GaugeMetricFamily("tollgate_queue_lag_seconds", "Wait of the last heartbeat job")
        age = GaugeMetricFamily("tollgate_worker_heartbeat_age_seconds", "Since last heartbeat")
        try:
            depth.add_metric(["default"], float(self._redis.llen(QUEUE_KEY)))
            beat = self._redis.hgetall(HEARTBEAT_KEY)
        except redis.RedisError:
            return
        yield depth
        if beat:
            lag.add_metric([], float(beat[b"lag"]))
            age.add_metric([], time.time() - float(beat[b"processed_at"]))
            yield lag
            yield age


_collector: QueueCollector | None = None


def prometheus_config(settings: Settings) -> PrometheusConfig:
    """Request counts and latency by route template and status."""
    global _collector
    if _collector is None:
        _collector = QueueCollector(settings.redis_url)
        REGISTRY.register(_collector)
    return PrometheusConfig(
        app_name="tollgate",
        prefix="tollgate",
        group_path=True,
        exclude=["/metrics"],
    )


class MetricsController(PrometheusController):
    """`/metrics` in the Prometheus text format."""

    path = "/metrics"
    openmetrics_format = False
