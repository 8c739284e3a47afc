"""OpenID Connect relying party: discovery, authorization URL, code exchange, ID token checks.

The only module that imports Authlib. ID tokens are checked with joserfc (authlib.jose is
deprecated): signature against the provider's JWKS (asymmetric algorithms only), `iss` equal to
the discovered issuer, `aud` containing our client id (and `azp` when there are several
audiences), `nonce`, `exp` and `iat` with a small leeway. Every failure is one `OidcError` whose
message is safe to show: it never carries a token, a secret or a provider's response body.
Every fetch (discovery, JWKS, token, userinfo) goes through the guarded outbound client, since a
tenant names the provider: a refused address and a failed fetch read the same.
"""

from __future__ import annotations

import hmac
import json
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

from infra.outbound import OutboundClient

with warnings.catch_warnings():
    # Authlib 1.9 warns on import that its httpx integration moves to the `httpx2` package;
    # Tollgate runs on httpx, which this Authlib still supports. authlib.deprecate installs an
    # "always" filter when imported, so it is imported first and our filter goes in front of it.
    import authlib.deprecate  # noqa: F401

    warnings.filterwarnings(
        "ignore", message="The httpx module is deprecated", category=DeprecationWarning
    )
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

SCOPES = "openid email profile"
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
METADATA_TTL_SECONDS = 300.0
JWKS_TTL_SECONDS = 300.0
CLOCK_LEEWAY_SECONDS = 60
MAX_DOCUMENT_BYTES = 512 * 1024
WELL_KNOWN = "/.well-known/openid-configuration"
# Asymmetric only: an HS* token would be keyed by the client secret, "none" by nothing.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
_SAFE_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class OidcError(Exception):
    """The OpenID flow failed or was refused; the message is safe to show to the user."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What discovery tells about a provider (only what the code flow needs)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    signing_algorithms: tuple[str, ...] = ("RS256",)
    iss_parameter_supported: bool = False

    @classmethod
    def from_document(cls, document: dict[str, Any], *, require_https: bool) -> ProviderMetadata:
        """Validated metadata, or OidcError naming the field that is missing or unusable."""

        def endpoint(name: str) -> str:
            value = document.get(name)
            if not isinstance(value, str) or not is_provider_url(value, require_https):
                scheme = "https " if require_https else ""
                raise OidcError(f"The discovery document has no valid {scheme}{name}")
            return value

        advertised = document.get("id_token_signing_alg_values_supported")
        if isinstance(advertised, list):
            algorithms = tuple(a for a in SIGNING_ALGORITHMS if a in advertised)
            if not algorithms:
                raise OidcError("The provider signs ID tokens with no algorithm Tollgate accepts")
        else:
            algorithms = ("RS256",)  # the OpenID Connect default
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise OidcError("The provider does not support PKCE with S256")
        userinfo = document.get("userinfo_endpoint")
        return cls(
            issuer=endpoint("issuer"),
            authorization_endpoint=endpoint("authorization_endpoint"),
            token_endpoint=endpoint("token_endpoint"),
            jwks_uri=endpoint("jwks_uri"),
            userinfo_endpoint=endpoint("userinfo_endpoint") if userinfo is not None else None,
            signing_algorithms=algorithms,
            iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
            is True,
        )


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Our registration at the provider."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    """The person the provider vouches for."""

    issuer: str
    sub: str
    email: str | None
    email_verified: bool
    name: str | None


def is_provider_url(value: str, require_https: bool) -> bool:
    """An absolute http(s) URL with a host and no fragment (https only when required)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    schemes = ("https",) if require_https else ("https", "http")
    return parts.scheme in schemes and bool(parts.hostname) and not parts.fragment


def discovery_url_for(issuer: str) -> str:
    """The OpenID Connect Discovery URL of an issuer."""
    return issuer.rstrip("/") + WELL_KNOWN


def check_response_issuer(metadata: ProviderMetadata, iss: str | None) -> None:
    """RFC 9207: the `iss` of an authorization response names the provider we sent the user to."""
    if iss is None:
        if metadata.iss_parameter_supported:
            raise OidcError("The authorization response lacks the iss parameter")
        return
    if iss != metadata.issuer:
        raise OidcError("The authorization response comes from another issuer")


def validate_id_token_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: int = CLOCK_LEEWAY_SECONDS,
) -> OidcIdentity:
    """Check a decoded ID token's claims (signature already verified) for this login."""
    registry = jwt.JWTClaimsRegistry(
        now=int(now),
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcError(_describe(exc)) from None
    if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
        claims["nonce"].encode(), nonce.encode()
    ):
        raise OidcError("The ID token's nonce does not match this login")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise OidcError("The ID token was issued to another client (azp)")
    email = claims.get("email")
    name = claims.get("name")
    return OidcIdentity(
        issuer=issuer,
        sub=claims["sub"],
        email=email if isinstance(email, str) and email else None,
        email_verified=_is_true(claims.get("email_verified")),
        name=name if isinstance(name, str) and name.strip() else None,
    )


def _is_true(value: object) -> bool:
    # A few providers send the boolean as a string.
    return value is True or value == "true"


def _describe(exc: JoseError) -> str:
    """A message about a refused token that names at most a claim, never a value."""
    if isinstance(exc, ExpiredTokenError):
        return "The ID token has expired"
    if isinstance(exc, MissingClaimError):
        return f"The ID token lacks the {exc.claim} claim"
    if isinstance(exc, ClaimError):
        reasons = {
            "aud": "The ID token was issued for another audience",
            "iss": "The ID token comes from another issuer",
            "iat": "The ID token was issued in the future",
            "nbf": "The ID token is not valid yet",
        }
        return reasons.get(exc.claim, f"The ID token's {exc.claim} claim is invalid")
    if isinstance(exc, BadSignatureError):
        return "The ID token's signature does not verify"
    if isinstance(exc, InvalidKeyIdError):
        return "The ID token is signed with a key the provider does not publish"
    if isinstance(exc, UnsupportedAlgorithmError):
        return "The ID token is signed with an algorithm that is not allowed"
    return "The ID token is malformed"


T = TypeVar("T")


class _TtlCache(Generic[T]):
    """A tiny time-bounded cache (a cache only: losing it costs one fetch)."""

    def __init__(self, ttl: float, clock: Callable[[], float], max_entries: int = 1024) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, T]] = {}

    def get(self, key: str) -> T | None:
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry[0] >= self.ttl:
            return None
        return entry[1]

    def put(self, key: str, value: T) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self.clock(), value)


class OidcClient:
    """The relying-party side of the authorization code flow with PKCE, for any provider.

    Discovery documents and JWKS are cached per URL for a few minutes; a token signed with an
    unknown `kid` refreshes the JWKS once (the provider rotated its keys).
    """

    def __init__(
        self,
        outbound: OutboundClient,
        *,
        require_https: bool = True,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        metadata_ttl: float = METADATA_TTL_SECONDS,
        jwks_ttl: float = JWKS_TTL_SECONDS,
        leeway: int = CLOCK_LEEWAY_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbound = outbound
        self._http = outbound.http
        self.require_https = require_https
        self._timeout = timeout
        self._leeway = leeway
        self._transport = transport
        self._wall_clock = wall_clock
        self._metadata: _TtlCache[ProviderMetadata] = _TtlCache(metadata_ttl, clock)
        self._jwks: _TtlCache[KeySet] = _TtlCache(jwks_ttl, clock)

    async def discover(
        self, discovery_url: str, *, expected_issuer: str | None = None, refresh: bool = False
    ) -> ProviderMetadata:
        """The provider's metadata (cached unless `refresh`); its issuer must equal
        `expected_issuer` if given."""
        metadata = None if refresh else self._metadata.get(discovery_url)
        if metadata is None:
            if not is_provider_url(discovery_url, self.require_https):
                raise OidcError("The discovery URL must be an absolute https URL")
            document = await self._get_json(discovery_url, "discovery document")
            metadata = ProviderMetadata.from_document(document, require_https=self.require_https)
            self._metadata.put(discovery_url, metadata)
        if expected_issuer is not None and metadata.issuer != expected_issuer:
            raise OidcError("The discovery document names another issuer than the configured one")
        return metadata

    async def authorization_url(
        self,
        metadata: ProviderMetadata,
        party: RelyingParty,
        *,
        state: str,
        nonce: str,
        code_verifier: str,
        login_hint: str | None = None,
    ) -> str:
        """Where to send the user: code flow, PKCE S256, state, nonce and an optional hint."""
        extra = {"login_hint": login_hint} if login_hint else {}
        async with self._oauth_client(party) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
                **extra,
            )
        return str(url)

    async def authenticate(
        self,
        metadata: ProviderMetadata,
        party: RelyingParty,
        *,
        code: str,
        code_verifier: str,
        nonce: str,
    ) -> OidcIdentity:
        """Redeem the code, verify the ID token, and fill the email from userinfo if missing."""
        tokens = await self.exchange_code(metadata, party, code=code, code_verifier=code_verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("The identity provider returned no ID token")
        identity = await self.verify_id_token(metadata, party.client_id, id_token, nonce=nonce)
        access_token = tokens.get("access_token")
        if identity.email is None and metadata.userinfo_endpoint and isinstance(access_token, str):
            identity = await self._with_userinfo(metadata.userinfo_endpoint, access_token, identity)
        return identity

    async def exchange_code(
        self, metadata: ProviderMetadata, party: RelyingParty, *, code: str, code_verifier: str
    ) -> dict[str, Any]:
        """The token endpoint's answer to our code (client_secret_basic, with the verifier)."""
        async with self._oauth_client(party) as client:
            try:
                token = await client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except OAuthError as exc:
                error = exc.error if _SAFE_ERROR_CODE.match(str(exc.error or "")) else "error"
                raise OidcError(f"The identity provider refused the code ({error})") from None
            except (httpx.HTTPError, httpx.InvalidURL):
                raise OidcError(
                    "The identity provider's token endpoint could not be fetched"
                ) from None
            except ValueError:
                raise OidcError("The identity provider's token response is not JSON") from None
        return dict(token)

    async def verify_id_token(
        self,
        metadata: ProviderMetadata,
        client_id: str,
        id_token: str,
        *,
        nonce: str,
        now: float | None = None,
    ) -> OidcIdentity:
        """Check an ID token's signature against the provider's JWKS, then its claims."""
        keys, fresh = await self._key_set(metadata.jwks_uri, refresh=False)
        try:
            token = self._decode(id_token, keys, metadata)
        except InvalidKeyIdError:
            if fresh:
                raise OidcError(_describe(InvalidKeyIdError())) from None
            keys, _ = await self._key_set(metadata.jwks_uri, refresh=True)
            try:
                token = self._decode(id_token, keys, metadata)
            except JoseError as exc:
                raise OidcError(_describe(exc)) from None
        except JoseError as exc:
            raise OidcError(_describe(exc)) from None
        return validate_id_token_claims(
            token.claims,
            issuer=metadata.issuer,
            client_id=client_id,
            nonce=nonce,
            now=self._wall_clock() if now is None else now,
            leeway=self._leeway,
        )

    @staticmethod
    def _decode(id_token: str, keys: KeySet, metadata: ProviderMetadata) -> jwt.Token:
        return jwt.decode(id_token, keys, algorithms=list(metadata.signing_algorithms))

    async def _key_set(self, jwks_uri: str, *, refresh: bool) -> tuple[KeySet, bool]:
        """(keys, whether they were fetched just now)."""
        cached = None if refresh else self._jwks.get(jwks_uri)
        if cached is not None:
            return cached, False
        document = await self._get_json(jwks_uri, "JWKS")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, KeyError, TypeError, ValueError):
            raise OidcError("The identity provider's JWKS holds no usable key") from None
        self._jwks.put(jwks_uri, keys)
        return keys, True

    async def _with_userinfo(
        self, endpoint: str, access_token: str, identity: OidcIdentity
    ) -> OidcIdentity:
        """The identity with email and name from userinfo (whose sub must be the same)."""
        info = await self._get_json(
            endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
        if info.get("sub") != identity.sub:
            raise OidcError("The userinfo response is about another subject")
        email, name = info.get("email"), info.get("name")
        return OidcIdentity(
            issuer=identity.issuer,
            sub=identity.sub,
            email=email if isinstance(email, str) and email else None,
            email_verified=_is_true(info.get("email_verified")),
            name=identity.name or (name if isinstance(name, str) and name.strip() else None),
        )

    async def _get_json(
        self, url: str, what: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A JSON object from the provider, size-capped, without following redirects."""
        try:
            async with self._http.stream(
                "GET",
                url,
                headers={"Accept": "application/json", **(headers or {})},
                timeout=self._timeout,
                follow_redirects=False,
            ) as response:
                if response.status_code != 200:
                    raise OidcError(
                        f"The identity provider's {what} answered HTTP {response.status_code}"
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise OidcError(f"The identity provider's {what} is too large")
        except (httpx.HTTPError, httpx.InvalidURL):
            # One text for every cause (refused address, closed port, timeout): the error must
            # not tell a tenant what listens where.
            raise OidcError(f"The identity provider's {what} could not be fetched") from None
        try:
            document = json.loads(bytes(body))
        except ValueError:
            raise OidcError(f"The identity provider's {what} is not JSON") from None
        if not isinstance(document, dict):
            raise OidcError(f"The identity provider's {what} is not a JSON object")
        return document

    def _oauth_client(self, party: RelyingParty) -> Any:
        """Authlib's client for one exchange (closed by the caller's `async with`)."""
        options: dict[str, Any] = {
            "timeout": self._timeout,
            "follow_redirects": False,
            "trust_env": False,
            "transport": self._transport or self._outbound.lend_transport(),
        }
        return AsyncOAuth2Client(
            client_id=party.client_id,
            client_secret=party.client_secret,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
            redirect_uri=party.redirect_uri,
            scope=SCOPES,
            code_challenge_method="S256",
            **options,
        )
