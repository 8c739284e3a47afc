"""Redis pub/sub for cache invalidation across processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import redis.asyncio as aioredis

from infra.logging import get_logger

log = get_logger(__name__)


async def listen(
    redis: aioredis.Redis,
    channel: str,
    on_message: Callable[[bytes], None],
    on_gap: Callable[[], None],
) -> None:
    """Call `on_message` for every message on the channel until cancelled; reconnects.

    `on_gap` runs when the subscription broke: messages may have been missed, so callers drop
    whatever those messages would have invalidated.
    """
    task = asyncio.current_task()
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            while True:
                # Python 3.11's asyncio.wait_for (inside redis-py) swallows a cancellation that
                # lands as the awaited call completes; the request stays pending, so honour it.
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
                # get_message with a timeout, not listen(): it honours cancellation promptly.
                message = await pubsub.get_message(timeout=1.0)
                data = message.get("data") if message else None
                if isinstance(data, bytes):
                    on_message(data)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("pubsub.listen_failed", channel=channel, exc_info=True)
            on_gap()
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
