"""The test OpenID Provider behaves like a real one: code + PKCE, strict client auth, no replay."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.support.oidc import (
    LoginFlowError,
    OidcAccount,
    OidcClient,
    OidcProvider,
    follow_login,
    follow_login_async,
    forge_id_token,
    generate_rsa_jwk,
    pkce_pair,
)

CLIENT_ID = "tollgate-web"
CLIENT_SECRET = "s3cret-" + "x" * 24
PUBLIC_CLIENT_ID = "tollgate-cli"
REDIRECT_URI = "http://127.0.0.1:9/sso/callback"
ALICE: OidcAccount = {
    "sub": "alice-0001",
    "email": "alice@acme.example",
    "email_verified": True,
    "name": "Alice Acme",
}
BOB: OidcAccount = {"sub": "bob-0002", "email": "bob@acme.example", "email_verified": False}


@dataclass
class Login:
    callback: str
    code: str
    state: str
    nonce: str
    verifier: str


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    clients: list[OidcClient] = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]},
        {"client_id": PUBLIC_CLIENT_ID, "redirect_uris": [REDIRECT_URI]},
    ]
    with OidcProvider(ttl={"AuthorizationCode": 30, "IdToken": 120}) as provider:
        provider.start(0, clients, [ALICE, BOB])
        yield provider


@pytest.fixture(scope="module")
def discovery(idp: OidcProvider) -> dict[str, Any]:
    response = httpx.get(idp.discovery_url)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def authorize_url(discovery: dict[str, Any], **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email profile",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge_method": "S256",
        **overrides,
    }
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return f"{discovery['authorization_endpoint']}?{query}"


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def login(discovery: dict[str, Any], email: str) -> Login:
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = authorize_url(
        discovery, login_hint=email, state=state, nonce=nonce, code_challenge=challenge
    )
    callback = follow_login(url, stop_at_prefix=REDIRECT_URI)
    params = query_of(callback)
    assert "code" in params, callback
    return Login(callback, params["code"], state, nonce, verifier)


def redeem(
    discovery: dict[str, Any], done: Login, secret: str = CLIENT_SECRET, **overrides: str
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": done.code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": done.verifier,
        **overrides,
    }
    return httpx.post(discovery["token_endpoint"], data=form, auth=(CLIENT_ID, secret))


def discovery_jwks(discovery: dict[str, Any]) -> Any:
    return httpx.get(discovery["jwks_uri"]).json()


def verify_id_token(
    discovery: dict[str, Any], id_token: str, nonce: str, keys: KeySet | None = None
) -> dict[str, Any]:
    if keys is None:
        keys = KeySet.import_key_set(discovery_jwks(discovery))
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": discovery["issuer"]},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(token.claims)
    return token.claims


def test_discovery_document_is_served(idp: OidcProvider, discovery: dict[str, Any]) -> None:
    assert discovery["issuer"] == idp.issuer
    assert idp.issuer.startswith("http://127.0.0.1:")
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert discovery["authorization_response_iss_parameter_supported"] is True
    assert "client_secret_basic" in discovery["token_endpoint_auth_methods_supported"]

    published = httpx.get(discovery["jwks_uri"]).json()["keys"]
    assert [key["kid"] for key in published] == [idp.jwk["kid"]]
    assert published[0]["n"] == idp.jwk["n"]
    assert "d" not in published[0]


def test_code_flow_with_pkce_issues_a_verifiable_id_token(discovery: dict[str, Any]) -> None:
    done = login(discovery, ALICE["email"].upper())  # login_hint matches case-insensitively

    callback = query_of(done.callback)
    assert callback["state"] == done.state
    assert callback["iss"] == discovery["issuer"]  # RFC 9207

    response = redeem(discovery, done)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"

    claims = verify_id_token(discovery, tokens["id_token"], done.nonce)
    assert claims["sub"] == ALICE["sub"]
    assert claims["email"] == ALICE["email"]
    assert claims["email_verified"] is True
    assert claims["name"] == ALICE["name"]
    assert claims["exp"] - claims["iat"] == 120  # the configured IdToken TTL

    userinfo = httpx.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["email"] == ALICE["email"]


def test_unverified_email_is_reported_as_such(discovery: dict[str, Any]) -> None:
    done = login(discovery, BOB["email"])
    response = redeem(discovery, done)
    assert response.status_code == 200, response.text
    claims = verify_id_token(discovery, response.json()["id_token"], done.nonce)
    assert claims["sub"] == BOB["sub"]
    assert claims["email_verified"] is False
    assert "name" not in claims


def test_replaying_a_code_fails(discovery: dict[str, Any]) -> None:
    done = login(discovery, ALICE["email"])
    assert redeem(discovery, done).status_code == 200

    replay = redeem(discovery, done)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_wrong_client_secret_fails(discovery: dict[str, Any]) -> None:
    done = login(discovery, ALICE["email"])

    response = redeem(discovery, done, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_code_verifier_fails(discovery: dict[str, Any]) -> None:
    done = login(discovery, ALICE["email"])

    response = redeem(discovery, done, code_verifier=pkce_pair()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_pkce_is_required_for_confidential_clients(discovery: dict[str, Any]) -> None:
    url = authorize_url(discovery, login_hint=ALICE["email"], code_challenge_method=None)

    params = query_of(follow_login(url, stop_at_prefix=REDIRECT_URI))
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]


def test_public_client_needs_pkce_and_no_secret(discovery: dict[str, Any]) -> None:
    no_pkce = authorize_url(
        discovery, client_id=PUBLIC_CLIENT_ID, login_hint=ALICE["email"], code_challenge_method=None
    )
    refused = query_of(follow_login(no_pkce, stop_at_prefix=REDIRECT_URI))
    assert refused["error"] == "invalid_request"

    verifier, challenge = pkce_pair()
    nonce = "n-public"
    url = authorize_url(
        discovery,
        client_id=PUBLIC_CLIENT_ID,
        login_hint=ALICE["email"],
        code_challenge=challenge,
        nonce=nonce,
    )
    code = query_of(follow_login(url, stop_at_prefix=REDIRECT_URI))["code"]
    form = {
        "grant_type": "authorization_code",
        "client_id": PUBLIC_CLIENT_ID,
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    response = httpx.post(discovery["token_endpoint"], data=form)
    assert response.status_code == 200, response.text
    keys = KeySet.import_key_set(discovery_jwks(discovery))
    claims = jwt.decode(response.json()["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["aud"] == PUBLIC_CLIENT_ID
    assert claims["email"] == ALICE["email"]


def test_unknown_login_hint_is_denied(discovery: dict[str, Any]) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(
        discovery, login_hint="mallory@evil.example", code_challenge=challenge, state="s-1"
    )

    params = query_of(follow_login(url, stop_at_prefix=REDIRECT_URI))
    assert params["error"] == "access_denied"
    assert params["state"] == "s-1"
    assert "code" not in params


def test_unregistered_redirect_uri_is_not_redirected_to(discovery: dict[str, Any]) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(
        discovery,
        login_hint=ALICE["email"],
        code_challenge=challenge,
        redirect_uri="http://127.0.0.1:9/elsewhere",
    )

    with pytest.raises(LoginFlowError) as caught:
        follow_login(url, stop_at_prefix="http://127.0.0.1:9/")
    assert caught.value.response is not None
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["error"] == "invalid_redirect_uri"


async def test_follow_login_async(discovery: dict[str, Any]) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(discovery, login_hint=ALICE["email"], code_challenge=challenge)

    callback = await follow_login_async(url, stop_at_prefix=REDIRECT_URI)
    assert "code" in query_of(callback)


def test_forged_tokens_verify_only_with_the_provider_key(
    idp: OidcProvider, discovery: dict[str, Any]
) -> None:
    now = int(time.time())
    claims = {
        "iss": idp.issuer,
        "aud": CLIENT_ID,
        "sub": "forged",
        "email": "ceo@acme.example",
        "email_verified": True,
        "nonce": "n-1",
        "iat": now,
        "exp": now + 60,
    }
    keys = KeySet.import_key_set(discovery_jwks(discovery))

    forged = forge_id_token(idp.jwk, claims)
    assert verify_id_token(discovery, forged, "n-1", keys)["email"] == "ceo@acme.example"

    foreign = forge_id_token(generate_rsa_jwk(kid=idp.jwk["kid"]), claims)
    with pytest.raises(BadSignatureError):
        verify_id_token(discovery, foreign, "n-1", keys)
