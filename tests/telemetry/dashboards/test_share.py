"""Share tokens: recognisable, random, and scrubbed from every log line that could carry one."""

from __future__ import annotations

from infra.logging import redact_path, redact_query
from telemetry.dashboards.share import TOKEN, new_token


class TestTokens:
    def test_tokens_are_random_and_well_formed(self) -> None:
        tokens = {new_token() for _ in range(100)}
        assert len(tokens) == 100
        assert all(TOKEN.match(t) for t in tokens)

    def test_the_access_log_never_shows_a_share_token(self) -> None:
        token = new_token()
        assert redact_path(f"/share/{token}/data") == "/share/[redacted]/data"
        assert token not in redact_query(f"next=/share/{token}")
