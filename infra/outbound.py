"""The guarded HTTP client for every outbound call a tenant can aim (SSO, webhooks, channels).

A tenant names the URL, so the URL must never reach into our own network. For each request the
transport resolves the host once, refuses the request unless every address it resolves to is
public (or inside `OUTBOUND_ALLOW_CIDRS`), and then connects to the checked address itself: the
URL's host is replaced by the IP while the Host header and the TLS SNI/certificate check keep the
name, so a DNS answer that changes after the check (rebinding) is never used. Connections are not
reused (a pooled socket would be keyed by IP, not by the name it was verified for), redirects are
never followed here, the response body is capped, and every failure a tenant can observe carries
the same text, so neither a refusal nor a closed or filtered port can be told apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Self

import httpx

from infra.logging import get_logger

log = get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> every address the name resolves to (textual IPs)
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

FETCH_FAILED = "the address could not be fetched"
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
RESOLVE_TIMEOUT_SECONDS = 2.0
SCHEMES = ("http", "https")

# Refused even where `is_global` says otherwise (or in case a Python version says so).
_ALWAYS_REFUSED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT (also where some clouds keep their metadata service)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, including 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local, including fd00:ec2::254
        "fe80::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundError(httpx.TransportError):
    """An outbound request was refused or failed; the message is the same for every cause."""

    def __init__(self, request: httpx.Request | None = None) -> None:
        super().__init__(FETCH_FAILED, request=request)


def parse_cidrs(raw: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from comma-separated CIDRs (or an iterable); ValueError names a bad one."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    networks: list[IPNetwork] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"OUTBOUND_ALLOW_CIDRS: {item!r} is not a CIDR") from None
    return tuple(networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def normalize_address(address: IPAddress) -> IPAddress:
    """The IPv4 address behind an IPv4-mapped IPv6 one; any other address unchanged."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, and not an address that embeds a non-public IPv4 one."""
    address = normalize_address(address)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
    if any(address in network for network in _ALWAYS_REFUSED if network.version == address.version):
        return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


class AddressPolicy:
    """Which addresses outbound calls may reach: public ones, plus the allow-listed ranges."""

    def __init__(self, allow: Iterable[IPNetwork] = ()) -> None:
        self.allow = tuple(allow)

    def permits(self, address: IPAddress) -> bool:
        """Whether a connection to this address is allowed."""
        address = normalize_address(address)
        if any(address in network for network in self.allow if network.version == address.version):
            return True
        return is_public(address)


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """Every address the system resolver gives for host (numeric forms included, as libc does)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class _CappedStream(httpx.AsyncByteStream):
    """A response body that fails once it passes `limit` bytes."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int, request: httpx.Request) -> None:
        self._inner = inner
        self._limit = limit
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                log.info("outbound.refused", host=self._request.headers.get("host"), reason="size")
                raise OutboundError(self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """Resolve once, check every address, connect to the checked one (see the module docstring)."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        resolve_timeout: float = RESOLVE_TIMEOUT_SECONDS,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.policy = policy
        self._resolver = resolver
        self._max_response_bytes = max_response_bytes
        self._resolve_timeout = resolve_timeout
        # No keep-alive: a pooled connection is keyed by the IP and would be reused for another
        # name that resolves to it, with the TLS certificate checked for the first name only.
        self._inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0), trust_env=False, verify=verify
        )

    async def _checked_address(self, request: httpx.Request) -> IPAddress:
        url = request.url
        if url.scheme not in SCHEMES or not url.host:
            raise ValueError("not an absolute http(s) URL")
        port = url.port or (443 if url.scheme == "https" else 80)
        async with asyncio.timeout(self._resolve_timeout):
            answers = await self._resolver(url.host, port)
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        if not addresses:
            raise ValueError("no address")
        refused = [a for a in addresses if not self.policy.permits(a)]
        if refused:
            # Any refused answer refuses the name: picking a good one would let an attacker mix
            # a public decoy with the internal target and win whenever the order flips.
            raise PermissionError(f"non-public address {refused[0]}")
        return addresses[0]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request to the checked address, or raise OutboundError."""
        host = request.url.host
        try:
            address = await self._checked_address(request)
        except (OSError, ValueError, TimeoutError, UnicodeError) as exc:
            reason = "refused" if isinstance(exc, PermissionError) else "unresolvable"
            log.info("outbound.refused", host=host, reason=reason)
            raise OutboundError(request) from None
        pinned = request.url.copy_with(host=str(normalize_address(address)))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        original_url, request.url = request.url, pinned  # the Host header keeps the name
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            log.info("outbound.failed", host=host, error=type(exc).__name__)
            raise OutboundError(request) from None
        finally:
            request.url = original_url
        assert isinstance(response.stream, httpx.AsyncByteStream)  # noqa: S101 (async transport)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, self._max_response_bytes, request),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        """Close the underlying transport."""
        await self._inner.aclose()


class _Borrowed(httpx.AsyncBaseTransport):
    """The guarded transport lent to a short-lived client: closing that client leaves it open."""

    def __init__(self, transport: GuardedTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Delegate to the guarded transport."""
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        """Nothing: the owner closes the transport."""


class OutboundClient:
    """The guarded `httpx.AsyncClient` (never follows redirects, ignores proxy env vars) and its
    transport, for libraries that build their own client (Authlib)."""

    def __init__(
        self,
        allow: Iterable[IPNetwork] = (),
        *,
        resolver: Resolver = system_resolver,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.transport = GuardedTransport(
            AddressPolicy(allow),
            resolver=resolver,
            max_response_bytes=max_response_bytes,
            verify=verify,
        )
        self.timeout = timeout
        self.http = httpx.AsyncClient(
            transport=self.transport, timeout=timeout, follow_redirects=False, trust_env=False
        )

    @classmethod
    def from_cidrs(cls, allow_cidrs: str, *, resolver: Resolver = system_resolver) -> Self:
        """A client whose allow-list is the comma-separated `OUTBOUND_ALLOW_CIDRS` value."""
        return cls(parse_cidrs(allow_cidrs), resolver=resolver)

    def lend_transport(self) -> httpx.AsyncBaseTransport:
        """The guarded transport for a client someone else builds and closes (Authlib's)."""
        return _Borrowed(self.transport)

    async def aclose(self) -> None:
        """Close the client and its transport."""
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
