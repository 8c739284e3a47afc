"""The Dramatiq broker on Redis, with asyncio actors, and the job sender for units of work."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from infra import jobs
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
    broker.add_middleware(InstallJobSender())
    return broker


class InstallJobSender(dramatiq.Middleware):
    """Lets a worker process relay the jobs its actors enqueue (the API installs its own)."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        """Install a sender on this broker once the worker process has started."""
        jobs.install_sender(DramatiqJobSender(broker))


broker = build_broker(get_settings().redis_url)
dramatiq.set_broker(broker)


class DramatiqJobSender:
    """Sends committed jobs to their actors' queues."""

    def __init__(self, target: dramatiq.Broker) -> None:
        self._broker = target

    def send(self, job: Job) -> None:
        """Enqueue one job by actor name, on this sender's broker."""
        actor = self._broker.get_actor(job.actor)
        message = actor.message_with_options(args=job.args, kwargs=job.kwargs)
        delay_ms = None if job.delay is None else max(int(job.delay.total_seconds() * 1000), 0)
        self._broker.enqueue(message, delay=delay_ms or None)


def queue_depth(target: RedisBroker, queue: str = "default") -> int:
    """Messages waiting on a queue (not yet taken by a worker)."""
    return int(target.client.llen(f"{target.namespace}:{queue}"))
