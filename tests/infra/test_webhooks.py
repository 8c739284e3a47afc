"""Outbound webhook primitives: the Standard Webhooks signature, the private-address guard."""

from __future__ import annotations

import httpx
import pytest

from infra.webhooks import generate_secret, post, sign
from tests.support.receiver import receiver


def test_the_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The example of the Standard Webhooks specification and its reference libraries.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
    ],
)
async def test_public_only_refuses_non_public_addresses_without_a_request(url: str) -> None:
    async with httpx.AsyncClient() as http:
        outcome = await post(http, url, generate_secret(), "msg_1", 1, b"{}", public_only=True)
    assert not outcome.delivered
    assert outcome.status is None
    assert outcome.error is not None
    assert "non-public" in outcome.error


async def test_without_the_guard_a_local_receiver_is_reached() -> None:
    with receiver() as listening:
        async with httpx.AsyncClient() as http:
            outcome = await post(http, listening.url, generate_secret(), "msg_1", 1, b"{}")
            refused = await post(
                http, listening.url, generate_secret(), "msg_2", 1, b"{}", public_only=True
            )
        assert outcome.delivered
        assert not refused.delivered
        assert len(listening.requests) == 1
