"""The periodic scheduler: enqueues each periodic job once per interval across all schedulers."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType

import redis

from infra.logging import get_logger
from infra.settings import Settings

log = get_logger(__name__)

# How often the periodic relay sends outbox rows older than `infra.outbox.RELAY_GRACE`, so a job
# whose immediate relay failed leaves within about grace + period (10 s).
OUTBOX_RELAY_SECONDS = 5.0


@dataclass(frozen=True)
class Periodic:
    """An actor to enqueue every `every` seconds, with the enqueue time as its argument."""

    actor: str
    every: float

    def __post_init__(self) -> None:
        if self.every <= 0:
            raise ValueError("a periodic job needs a positive interval")


SCHEDULE: tuple[Periodic, ...] = (
    Periodic("system.heartbeat", 10.0),
    Periodic("hub.heartbeat", 30.0),  # does nothing unless HUB_URL and HUB_API_KEY are set
    Periodic("system.relay_outbox", OUTBOX_RELAY_SECONDS),
    Periodic("tenancy.flush_key_usage", 30.0),
    Periodic("metering.flush", 10.0),
    Periodic("billing.close_period", 60.0),
    Periodic("billing.enforce_dunning", 300.0),
    Periodic("notifications.sweep", 30.0),  # escalation steps and repeat_interval
    Periodic("alerting.sync_all", 60.0),  # vmalert files repaired from PostgreSQL
    Periodic("alerting.poll_vmalert", 15.0),  # rule state, last evaluation, last error
    Periodic("alerting.evaluate_log_rules", 10.0),
    Periodic("alerting.expire_incidents", 30.0),
    Periodic("telemetry.drop_expired", 86_400.0),  # once per UTC day, soon after midnight
)


class Scheduler:
    """Ticks the schedule; a Redis lock per slot keeps several schedulers from doubling jobs."""

    def __init__(
        self, settings: Settings, schedule: tuple[Periodic, ...] = SCHEDULE, tick: float = 1.0
    ) -> None:
        self._redis = redis.Redis.from_url(settings.redis_url, socket_timeout=2.0)
        self._schedule = schedule
        self._tick = tick
        self._stop = threading.Event()

    def due(self, now: float) -> list[Periodic]:
        """Jobs whose current slot has not been claimed yet; claims them."""
        claimed = []
        for job in self._schedule:
            slot = int(now // job.every)
            key = f"tg:sched:{job.actor}:{slot}"
            if self._redis.set(key, "1", nx=True, ex=max(int(job.every * 2), 2)):
                claimed.append(job)
        return claimed

    def run(self) -> None:
        """Loop until stopped, enqueueing due jobs."""
        import workers.main  # noqa: F401  (declares the actors on the broker)
        from workers.broker import broker

        log.info("scheduler.started", jobs=[job.actor for job in self._schedule])
        while not self._stop.is_set():
            now = time.time()
            for job in self.due(now):
                try:
                    broker.get_actor(job.actor).send(now)
                except Exception:
                    log.exception("scheduler.enqueue_failed", actor=job.actor)
            self._stop.wait(self._tick)
        log.info("scheduler.stopped")

    def stop(self, *_: object) -> None:
        """Ask the loop to finish after the current tick."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGTERM and Ctrl-C."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
