"""DNS TXT lookups for domain proofs, with dnspython against configurable nameservers."""

from __future__ import annotations

import ipaddress

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

LOOKUP_TIMEOUT_SECONDS = 5.0
MAX_TXT_RECORDS = 50


class DnsLookupError(Exception):
    """The nameservers could not be asked (timeout, refusal); the message is safe to show."""


def parse_nameservers(raw: str) -> list[tuple[str, int]]:
    """`ip[:port]` entries (IPv6 as `[ip]:port`), comma-separated; ValueError names a bad one."""
    servers: list[tuple[str, int]] = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        host, port = item, "53"
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":") or "53"
        elif item.count(":") == 1:
            host, port = item.split(":")
        try:
            address = str(ipaddress.ip_address(host))
            number = int(port)
        except ValueError:
            raise ValueError(f"DOMAIN_VERIFY_NAMESERVERS: {item!r} is not ip[:port]") from None
        if not 0 < number < 65536:
            raise ValueError(f"DOMAIN_VERIFY_NAMESERVERS: {item!r} has a bad port")
        servers.append((address, number))
    return servers


def _resolver(nameservers: str, timeout: float) -> dns.asyncresolver.Resolver:
    servers = parse_nameservers(nameservers)
    resolver = dns.asyncresolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(a, port) for a, port in servers]
    resolver.lifetime = timeout
    resolver.cache = None  # a proof is checked now, not from a cached answer
    return resolver


async def txt_values(
    name: str, nameservers: str = "", lifetime: float = LOOKUP_TIMEOUT_SECONDS
) -> list[str]:
    """The TXT strings at `name` (each record's chunks joined); [] when there are none."""
    resolver = _resolver(nameservers, lifetime)
    try:
        answer = await resolver.resolve(name, "TXT", raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.Timeout:
        raise DnsLookupError("The DNS lookup timed out; try again in a moment") from None
    except dns.exception.DNSException:
        raise DnsLookupError("The DNS lookup failed; try again in a moment") from None
    values: list[str] = []
    for record in list(answer)[:MAX_TXT_RECORDS]:
        strings = getattr(record, "strings", ())
        values.append(b"".join(strings).decode("utf-8", "replace"))
    return values
