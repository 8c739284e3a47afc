"""Outbound webhook primitives: the Standard Webhooks signature, the private-address guard."""

from __future__ import annotations

import pytest

from infra.outbound import FETCH_FAILED, OutboundClient, parse_cidrs
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
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://0177.0.0.1:9/hook",
    ],
)
async def test_non_public_addresses_are_refused_with_the_uniform_error(url: str) -> None:
    async with OutboundClient() as client:  # the default: nothing allow-listed
        outcome = await post(client, url, generate_secret(), "msg_1", 1, b"{}")
    assert not outcome.delivered
    assert outcome.status is None
    assert outcome.error == FETCH_FAILED


async def test_a_loopback_receiver_is_reached_only_when_allow_listed() -> None:
    with receiver() as listening:
        async with (
            OutboundClient(parse_cidrs("127.0.0.0/8")) as allowed,
            OutboundClient() as guarded,
        ):
            outcome = await post(allowed, listening.url, generate_secret(), "msg_1", 1, b"{}")
            refused = await post(guarded, listening.url, generate_secret(), "msg_2", 1, b"{}")
        assert outcome.delivered
        assert not refused.delivered
        assert refused.error == FETCH_FAILED
        assert len(listening.requests) == 1
