"""A real OpenID Provider for SSO tests: npm `oidc-provider` run by node on loopback.

    with OidcProvider() as idp:
        idp.start(0, clients=[...], accounts=[...])   # 0 = any free port
        url = idp.issuer + "/auth?" + urlencode({..., "login_hint": "alice@example.com"})
        callback = follow_login(url, stop_at_prefix="http://127.0.0.1:8000/sso/callback")

Login is non-interactive: the provider logs in the account whose email equals `login_hint` and
grants every requested scope; an unknown hint comes back as `error=access_denied`. The ID token
carries `email`, `email_verified` and `name`, and is signed with `idp.jwk`, so a test can forge
tokens the relying party would otherwise accept (`forge_id_token`). The node project lives in
`oidc_provider/`; its `node_modules` is installed with `npm ci` on first use.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NotRequired, Self, TypedDict
from urllib.parse import urljoin

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
RSA_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class OidcClient(TypedDict):
    """A registered relying party; extra client metadata (e.g. token_endpoint_auth_method) is
    passed through to oidc-provider."""

    client_id: str
    client_secret: NotRequired[str]
    redirect_uris: list[str]
    token_endpoint_auth_method: NotRequired[str]


class OidcAccount(TypedDict):
    """An end user of the provider; `login_hint` matches `email` (case-insensitive) or `sub`."""

    sub: str
    email: NotRequired[str]
    email_verified: NotRequired[bool]
    name: NotRequired[str]


class OidcProviderError(RuntimeError):
    """The provider could not be installed or started."""


class LoginFlowError(RuntimeError):
    """The login did not end in a redirect to the client."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


# --- keys and tokens ---------------------------------------------------------------------------


def generate_rsa_jwk(kid: str | None = None, size: int = 2048) -> dict[str, Any]:
    """A fresh private RSA signing JWK (RS256, `kid` defaults to the RFC 7638 thumbprint)."""
    key = RSAKey.generate_key(size, parameters={"alg": "RS256", "use": "sig"}, private=True)
    jwk: dict[str, Any] = dict(key.as_dict(private=True))
    jwk["kid"] = kid or key.thumbprint()
    return jwk


def public_jwk(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The public half of a JWK."""
    return {name: value for name, value in jwk.items() if name not in RSA_PRIVATE_MEMBERS}


def forge_id_token(
    jwk: Mapping[str, Any], claims: Mapping[str, Any], header: Mapping[str, Any] | None = None
) -> str:
    """Sign `claims` exactly as given (nothing is added) with `jwk`, as the provider would.

    The header defaults to `{"alg": jwk["alg"] or RS256, "kid": jwk["kid"], "typ": "JWT"}`;
    `header` entries override it.
    """
    full_header: dict[str, Any] = {"alg": jwk.get("alg", "RS256"), "typ": "JWT"}
    if "kid" in jwk:
        full_header["kid"] = jwk["kid"]
    full_header.update(header or {})
    key = RSAKey.import_key(dict(jwk))
    return jwt.encode(full_header, dict(claims), key, algorithms=[full_header["alg"]])


def pkce_pair() -> tuple[str, str]:
    """A PKCE `(code_verifier, S256 code_challenge)` pair."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- browserless login -------------------------------------------------------------------------


def _next_hop(response: httpx.Response, stop_at_prefix: str) -> tuple[str, bool]:
    """(next URL, whether it is the final redirect to the client)."""
    if response.status_code not in REDIRECT_STATUSES:
        raise LoginFlowError(
            f"login stopped at {response.request.url} with HTTP {response.status_code}: "
            f"{response.text[:500]}",
            response,
        )
    location = response.headers.get("location")
    if not location:
        raise LoginFlowError(f"redirect without Location from {response.request.url}", response)
    target = urljoin(str(response.request.url), location)
    return target, target.startswith(stop_at_prefix)


def follow_login(authorize_url: str, stop_at_prefix: str, *, max_hops: int = 10) -> str:
    """Drive the provider from the authorization URL through its interaction and back, and
    return the redirect to the client (the first URL starting with `stop_at_prefix`, normally
    the redirect_uri with `code`, `state` and `iss`, or `error`) without fetching it.

    Cookies are kept across hops in a fresh client, so every call is a new browser session.
    Raises LoginFlowError when the provider answers without redirecting (e.g. an unregistered
    redirect_uri or unknown client_id is shown as an error page, never redirected).
    """
    url = authorize_url
    with httpx.Client(follow_redirects=False, timeout=10.0) as client:
        for _ in range(max_hops):
            url, done = _next_hop(client.get(url), stop_at_prefix)
            if done:
                return url
    raise LoginFlowError(f"no redirect to {stop_at_prefix} after {max_hops} hops (last {url})")


async def follow_login_async(authorize_url: str, stop_at_prefix: str, *, max_hops: int = 10) -> str:
    """`follow_login` for async tests."""
    url = authorize_url
    async with httpx.AsyncClient(follow_redirects=False, timeout=10.0) as client:
        for _ in range(max_hops):
            url, done = _next_hop(await client.get(url), stop_at_prefix)
            if done:
                return url
    raise LoginFlowError(f"no redirect to {stop_at_prefix} after {max_hops} hops (last {url})")


# --- the node project --------------------------------------------------------------------------


def _locked_version(directory: Path) -> str | None:
    lock = json.loads((directory / "package-lock.json").read_text())
    version: str | None = lock["packages"].get("node_modules/oidc-provider", {}).get("version")
    return version


def _installed_version(directory: Path) -> str | None:
    manifest = directory / "node_modules" / "oidc-provider" / "package.json"
    if not (directory / "node_modules" / ".package-lock.json").is_file() or not manifest.is_file():
        return None
    version: str | None = json.loads(manifest.read_text()).get("version")
    return version


def ensure_node_modules(directory: Path = PROVIDER_DIR, timeout: float = 300.0) -> None:
    """Run `npm ci` in `directory` unless its node_modules matches package-lock.json.

    Serialised with a file lock, so parallel pytest-xdist workers install only once.
    """
    if _installed_version(directory) == _locked_version(directory):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise OidcProviderError("npm is not on PATH; Node.js >= 20 with npm is needed")
    lock_path = Path(tempfile.gettempdir()) / f"tollgate-oidc-npm-{os.getuid()}.lock"
    with lock_path.open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if _installed_version(directory) == _locked_version(directory):
                return
            env = {**os.environ, "npm_config_update_notifier": "false"}
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=directory,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if result.returncode != 0:
                raise OidcProviderError(
                    f"npm ci failed in {directory} ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}"
                )
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


# --- the provider process ----------------------------------------------------------------------


def _pump(stream: IO[str], sink: queue.Queue[str | None] | deque[str]) -> None:
    """Copy lines from a child's pipe until EOF (runs in a daemon thread)."""
    for line in stream:
        if isinstance(sink, deque):
            sink.append(line)
        else:
            sink.put(line)
    if isinstance(sink, queue.Queue):
        sink.put(None)


class OidcProvider:
    """npm `oidc-provider` as a child process on loopback (see the module docstring).

    `jwk` is the private signing key (generated unless given), `jwks` its public JWKS, `ttl`
    overrides token lifetimes in seconds (`AccessToken`, `AuthorizationCode`, `IdToken`,
    `Interaction`, `Session`, `Grant`, ...). The process exits when `stop()` closes its stdin,
    and also when this Python process dies.
    """

    def __init__(
        self,
        jwk: Mapping[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        ttl: Mapping[str, int] | None = None,
        startup_timeout: float = 30.0,
        directory: Path = PROVIDER_DIR,
    ) -> None:
        self.jwk: dict[str, Any] = dict(jwk) if jwk is not None else generate_rsa_jwk()
        self.host = host
        self.ttl = dict(ttl or {})
        self.startup_timeout = startup_timeout
        self.directory = directory
        self.port: int | None = None
        self._issuer: str | None = None
        self._process: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self._stderr: deque[str] = deque(maxlen=500)

    @property
    def jwks(self) -> dict[str, Any]:
        """The public JWKS the provider publishes at its jwks_uri."""
        return {"keys": [public_jwk(self.jwk)]}

    @property
    def issuer(self) -> str:
        if self._issuer is None:
            raise OidcProviderError("the provider is not started")
        return self._issuer

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def stderr(self) -> str:
        """The provider's recent stderr (warnings, errors), for debugging."""
        return "".join(self._stderr)

    def config(
        self,
        port: int,
        clients: Sequence[OidcClient],
        accounts: Sequence[OidcAccount],
        issuer: str | None = None,
    ) -> dict[str, Any]:
        """The JSON config server.js reads."""
        config: dict[str, Any] = {
            "port": port,
            "host": self.host,
            "clients": [dict(client) for client in clients],
            "accounts": [dict(account) for account in accounts],
            "jwks": {"keys": [self.jwk]},
        }
        if issuer is not None:
            config["issuer"] = issuer
        if self.ttl:
            config["ttl"] = self.ttl
        return config

    def start(
        self,
        port: int,
        clients: Sequence[OidcClient],
        accounts: Sequence[OidcAccount],
        *,
        issuer: str | None = None,
    ) -> None:
        """Install node_modules if needed, start the provider and wait until it listens.

        `port` 0 picks a free port; the issuer is then `http://<host>:<real port>`.
        """
        if self._process is not None:
            raise OidcProviderError("the provider is already started")
        ensure_node_modules(self.directory)
        node = shutil.which("node")
        if node is None:
            raise OidcProviderError("node is not on PATH; Node.js >= 20 is needed")
        process = subprocess.Popen(
            [node, "server.js"],
            cwd=self.directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self._process = process
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        stdout: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=_pump, args=(process.stdout, stdout), daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, self._stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            with contextlib.suppress(BrokenPipeError):  # died at once: reported below
                process.stdin.write(json.dumps(self.config(port, clients, accounts, issuer)) + "\n")
                process.stdin.flush()
            ready = self._wait_ready(stdout)
        except BaseException:
            self.stop()
            raise
        if isinstance(ready, str):
            self.stop()  # joins the stderr reader, so the message below is complete
            raise OidcProviderError(f"{ready}:\n{self.stderr}")
        self._issuer = ready["issuer"]
        self.port = int(ready["port"])

    def _wait_ready(self, stdout: queue.Queue[str | None]) -> dict[str, Any] | str:
        """The ready message, or why there is none."""
        while True:
            try:
                line = stdout.get(timeout=self.startup_timeout)
            except queue.Empty:
                return f"the provider did not start in {self.startup_timeout}s"
            if line is None:
                return "the provider exited during start"
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and "issuer" in message:
                    return message

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the provider (closing its stdin, then SIGTERM, then SIGKILL). Idempotent."""
        process, self._process = self._process, None
        self._issuer = None
        self.port = None
        if process is None:
            return
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_provider(
    clients: Sequence[OidcClient],
    accounts: Sequence[OidcAccount],
    *,
    port: int = 0,
    jwk: Mapping[str, Any] | None = None,
    ttl: Mapping[str, int] | None = None,
) -> Iterator[OidcProvider]:
    """A started provider for the duration of the block (handy in fixtures)."""
    with OidcProvider(jwk, ttl=ttl) as provider:
        provider.start(port, clients, accounts)
        yield provider
