"""The scheduler claims each periodic slot once across any number of schedulers."""

from __future__ import annotations

import pytest
import redis as sync_redis

from infra.settings import Settings
from workers.scheduler import Periodic, Scheduler


class TestScheduler:
    def test_a_slot_is_claimed_once_across_schedulers(self, settings: Settings) -> None:
        sync_redis.Redis.from_url(settings.redis_url).flushdb()
        schedule = (Periodic("system.heartbeat", 60.0),)
        first, second = Scheduler(settings, schedule), Scheduler(settings, schedule)
        now = 1_800_000_000.0
        assert [job.actor for job in first.due(now)] == ["system.heartbeat"]
        assert second.due(now + 1) == []
        assert [job.actor for job in second.due(now + 60)] == ["system.heartbeat"]

    def test_a_periodic_job_needs_a_positive_interval(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            Periodic("system.heartbeat", 0)
