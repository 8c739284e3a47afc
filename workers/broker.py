"""The Dramatiq broker on Redis, with asyncio actors, and the job sender for units of work."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from infra.jobs import Job
from infra.settings import get_settings
from workers.runtime import ReleaseResources

NAMESPACE = "tollgate"
QUEUES = ("default",)


def build_broker(redis_url: str) -> RedisBroker:
    """A Redis broker whose actors may be coroutines."""
    broker = RedisBroker(url=redis_url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
    broker.add_middleware(AsyncIO())
    broker.add_middleware(ReleaseResources())  # after AsyncIO: closes before the loop stops
    return broker


broker = build_broker(get_settings().redis_url)
dramatiq.set_broker(broker)


class DramatiqJobSender:
    """Sends committed jobs to their actors' queues."""

    def __init__(self, target: dramatiq.Broker) -> None:
        self._broker = target

    def send(self, job: Job) -> None:
        """Enqueue one job by actor name."""
        actor = self._broker.get_actor(job.actor)
        if job.delay is None:
            actor.send(*job.args, **job.kwargs)
        else:
            delay_ms = int(job.delay.total_seconds() * 1000)
            actor.send_with_options(args=job.args, kwargs=job.kwargs, delay=delay_ms)


def queue_depth(target: RedisBroker, queue: str = "default") -> int:
    """Messages waiting on a queue (not yet taken by a worker)."""
    return int(target.client.llen(f"{target.namespace}:{queue}"))
