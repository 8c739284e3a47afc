"""Fixtures for billing: actors run inline with recorded jobs, and a local fake Stripe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.resources import Resources
from infra import jobs
from infra.stripe import StripeGateway
from tests.support import fake_stripe
from workers import runtime
from workers.actor import run_inline
from workers.actors import billing as billing_actors


class RecordingSender:
    """Collects the jobs units of work send after commit; can run them inline."""

    def __init__(self) -> None:
        self.sent: list[jobs.Job] = []

    def send(self, job: jobs.Job) -> None:
        self.sent.append(job)

    def named(self, actor: str) -> list[jobs.Job]:
        return [job for job in self.sent if job.actor == actor]

    async def drain(self, actor: str) -> int:
        """Run (and forget) every recorded job of one actor, as a worker would."""
        pending = self.named(actor)
        self.sent = [job for job in self.sent if job.actor != actor]
        for job in pending:
            await run_inline(job.actor, *job.args, **job.kwargs)
        return len(pending)


@pytest.fixture
def recording(
    session_factory: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
) -> Iterator[RecordingSender]:
    """Actors run inline on the test's transaction and Redis; jobs they send are recorded."""
    sender = RecordingSender()
    jobs.install_sender(sender)
    runtime.use_session_factory(session_factory)
    billing_actors.use_redis(redis_client)
    billing_actors.use_stripe(None)
    yield sender
    billing_actors.use_stripe(None)
    billing_actors.use_redis(None)
    runtime.use_session_factory(None)
    jobs.install_sender(None)


@pytest.fixture
def fake() -> Iterator[fake_stripe.FakeStripe]:
    """A fake Stripe on a loopback port."""
    with fake_stripe.running() as server:
        yield server


@dataclass(frozen=True)
class StripeOn:
    """Stripe configured for the API and the workers, pointing at the fake."""

    fake: fake_stripe.FakeStripe
    gateway: StripeGateway
    jobs: RecordingSender


@pytest.fixture
async def stripe_on(
    resources: Resources, fake: fake_stripe.FakeStripe, recording: RecordingSender
) -> AsyncIterator[StripeOn]:
    """The API and the billing actors collect through the fake Stripe; webhooks are signed."""
    gateway = StripeGateway(fake_stripe.API_KEY, api_base=fake.url, max_network_retries=0)
    resources.settings = resources.settings.model_copy(
        update={
            "stripe_api_key": SecretStr(fake_stripe.API_KEY),
            "stripe_webhook_secret": SecretStr(fake_stripe.WEBHOOK_SECRET),
            "stripe_api_base": fake.url,
        }
    )
    resources.stripe = gateway
    billing_actors.use_stripe(gateway)
    yield StripeOn(fake, gateway, recording)
    billing_actors.use_stripe(None)
    await gateway.close()
