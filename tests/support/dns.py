"""A real DNS server on loopback (dnslib) answering the records a test sets.

    with dns_server() as dns:
        dns.txt["_tollgate.acme.example"] = ["tollgate-verify=..."]
        dns.a["rebind.test"] = ["8.8.8.8", "127.0.0.1"]   # answered in turn, TTL 0
        settings DOMAIN_VERIFY_NAMESERVERS = dns.nameserver  ("127.0.0.1:PORT")

Names are matched case-insensitively without the trailing dot; an unknown name is NXDOMAIN.
`queries` counts the questions asked per (name, type).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from dnslib import AAAA, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer


@dataclass
class DnsZone:
    """What the server answers, editable while it runs."""

    port: int = 0
    txt: dict[str, list[str]] = field(default_factory=dict)
    a: dict[str, list[str]] = field(default_factory=dict)
    aaaa: dict[str, list[str]] = field(default_factory=dict)
    queries: Counter[tuple[str, str]] = field(default_factory=Counter)
    _turns: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def nameserver(self) -> str:
        """The `ip:port` to put in DOMAIN_VERIFY_NAMESERVERS."""
        return f"127.0.0.1:{self.port}"

    def _next(self, kind: str, name: str, values: list[str]) -> str:
        """Address records rotate, one per answer: a rebinding attacker's DNS."""
        with self._lock:
            turn = self._turns[(kind, name)]
            self._turns[(kind, name)] += 1
        return values[turn % len(values)]

    def answer(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply()
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        kind = QTYPE[question.qtype]
        with self._lock:
            self.queries[(name, kind)] += 1
        known = name in self.txt or name in self.a or name in self.aaaa
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if kind == "TXT":
            for value in self.txt.get(name, []):
                reply.add_answer(RR(question.qname, QTYPE.TXT, rdata=TXT(value), ttl=0))
        elif kind == "A" and self.a.get(name):
            address = self._next("A", name, self.a[name])
            reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=0))
        elif kind == "AAAA" and self.aaaa.get(name):
            address = self._next("AAAA", name, self.aaaa[name])
            reply.add_answer(RR(question.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=0))
        return reply


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: DnsZone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        return self.zone.answer(request)


class _QuietLogger:
    """dnslib logs every query to stdout by default."""

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def dns_server() -> Iterator[DnsZone]:
    """A UDP DNS server on a free loopback port for the duration of the block."""
    zone = DnsZone()
    server = DNSServer(_Resolver(zone), port=0, address="127.0.0.1", logger=_QuietLogger())
    zone.port = server.server.server_address[1]
    server.start_thread()
    try:
        yield zone
    finally:
        server.stop()
        server.server.server_close()


def a_resolver(zone: DnsZone) -> Callable[[str, int], Awaitable[list[str]]]:
    """An outbound resolver (infra.outbound.Resolver) that asks this server, over real DNS."""
    import dns.asyncresolver
    import dns.nameserver

    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", zone.port)]
    resolver.cache = None
    resolver.lifetime = 2.0

    async def resolve(host: str, port: int) -> list[str]:
        answer = await resolver.resolve(host, "A")
        return [record.address for record in answer]

    return resolve
