"""infra.oidc's ID token checks, on tokens forged with a real provider's key and served by its JWKS
(npm oidc-provider on loopback)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from infra.oidc import OidcClient, OidcError, ProviderMetadata
from infra.outbound import OutboundClient, parse_cidrs
from tests.support.oidc import OidcProvider, forge_id_token, generate_rsa_jwk
from tests.support.sso import ALICE, CLIENT_ID, id_token_claims, idp

__all__ = ["idp"]  # a fixture used by name


class TestIdTokenValidator:
    """infra.oidc's checks, on tokens forged with the provider's key and served by its JWKS."""

    @pytest.fixture
    async def oidc(self) -> AsyncIterator[OidcClient]:
        async with OutboundClient(parse_cidrs("127.0.0.0/8")) as outbound:
            yield OidcClient(outbound, require_https=False)

    @pytest.fixture
    async def metadata(self, oidc: OidcClient, idp: OidcProvider) -> ProviderMetadata:
        return await oidc.discover(idp.discovery_url, expected_issuer=idp.issuer)

    async def verify(
        self, oidc: OidcClient, metadata: ProviderMetadata, token: str, nonce: str = "n-1"
    ) -> Any:
        return await oidc.verify_id_token(metadata, CLIENT_ID, token, nonce=nonce)

    async def test_a_token_signed_by_the_provider_is_accepted(
        self, oidc: OidcClient, metadata: ProviderMetadata, idp: OidcProvider
    ) -> None:
        identity = await self.verify(oidc, metadata, forge_id_token(idp.jwk, id_token_claims(idp)))

        assert (identity.sub, identity.email, identity.email_verified) == (
            ALICE["sub"],
            ALICE["email"],
            True,
        )

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"aud": "another-client"}, "another audience"),
            ({"aud": ["another-client", "third"]}, "another audience"),
            ({"aud": [CLIENT_ID, "another-client"]}, r"another client \(azp\)"),
            ({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}, "azp"),
            ({"iss": "http://127.0.0.1:1"}, "another issuer"),
            ({"nonce": "n-2"}, "nonce"),
            ({"nonce": None}, "nonce"),
            ({"exp": int(time.time()) - 120}, "expired"),
            ({"iat": int(time.time()) + 3600}, "in the future"),
            ({"sub": None}, "sub"),
        ],
    )
    async def test_a_token_with_wrong_claims_is_refused(
        self,
        oidc: OidcClient,
        metadata: ProviderMetadata,
        idp: OidcProvider,
        overrides: dict[str, Any],
        reason: str,
    ) -> None:
        claims = {k: v for k, v in (id_token_claims(idp) | overrides).items() if v is not None}

        with pytest.raises(OidcError, match=reason):
            await self.verify(oidc, metadata, forge_id_token(idp.jwk, claims))

    async def test_several_audiences_are_accepted_when_azp_is_us(
        self, oidc: OidcClient, metadata: ProviderMetadata, idp: OidcProvider
    ) -> None:
        claims = id_token_claims(idp, aud=[CLIENT_ID, "api"], azp=CLIENT_ID)

        identity = await self.verify(oidc, metadata, forge_id_token(idp.jwk, claims))

        assert identity.sub == ALICE["sub"]

    async def test_expiry_allows_a_small_clock_skew(
        self, oidc: OidcClient, metadata: ProviderMetadata, idp: OidcProvider
    ) -> None:
        claims = id_token_claims(idp, exp=int(time.time()) - 5)

        assert (await self.verify(oidc, metadata, forge_id_token(idp.jwk, claims))).sub

    async def test_a_token_signed_by_another_key_is_refused(
        self, oidc: OidcClient, metadata: ProviderMetadata, idp: OidcProvider
    ) -> None:
        same_kid = generate_rsa_jwk(kid=idp.jwk["kid"])
        unknown_kid = generate_rsa_jwk()

        with pytest.raises(OidcError, match="signature does not verify"):
            await self.verify(oidc, metadata, forge_id_token(same_kid, id_token_claims(idp)))
        with pytest.raises(OidcError, match="key the provider does not publish"):
            await self.verify(oidc, metadata, forge_id_token(unknown_kid, id_token_claims(idp)))

    async def test_unsigned_and_symmetric_tokens_are_refused(
        self, oidc: OidcClient, metadata: ProviderMetadata, idp: OidcProvider
    ) -> None:
        def b64(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        claims = id_token_claims(idp)
        unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
        hmac_token = f"{b64({'alg': 'HS256', 'kid': idp.jwk['kid']})}.{b64(claims)}.c2ln"

        for token in (unsigned, hmac_token):
            with pytest.raises(OidcError, match="algorithm that is not allowed"):
                await self.verify(oidc, metadata, token)
