"""The guarded outbound client: what a tenant-aimed request may reach, against real servers.

Every refusal test runs with the allow-list EMPTY (the default in every environment), and the
servers it must not reach are really listening and count what they get.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.outbound import (
    FETCH_FAILED,
    AddressPolicy,
    OutboundClient,
    OutboundError,
    is_public,
    parse_cidrs,
)
from tests.support.dns import a_resolver, dns_server
from tests.support.scripted_server import serving

LOOPBACK = parse_cidrs("127.0.0.0/8")


async def fetch(client: OutboundClient, url: str, **options: object) -> httpx.Response:
    response = await client.http.get(url, **options)  # type: ignore[arg-type]
    await response.aread()
    return response


class TestAddressPolicy:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",  # noqa: S104 (an address under test, not a bind)
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",  # CGNAT
            "169.254.169.254",  # cloud metadata
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00:ec2::254",  # AWS metadata over IPv6
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
            "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
        ],
    )
    def test_non_public_addresses_are_refused(self, address: str) -> None:
        assert not AddressPolicy().permits(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1"])
    def test_public_addresses_are_allowed(self, address: str) -> None:
        assert is_public(ipaddress.ip_address(address))
        assert AddressPolicy().permits(ipaddress.ip_address(address))

    def test_the_allow_list_opens_its_ranges_only(self) -> None:
        policy = AddressPolicy(parse_cidrs(" 127.0.0.0/8 , fd00::/8"))

        assert policy.permits(ipaddress.ip_address("127.0.0.5"))
        assert policy.permits(ipaddress.ip_address("::ffff:127.0.0.5"))
        assert policy.permits(ipaddress.ip_address("fd00:ec2::254"))
        assert not policy.permits(ipaddress.ip_address("169.254.169.254"))
        assert not policy.permits(ipaddress.ip_address("10.0.0.1"))

    def test_a_bad_cidr_is_named(self) -> None:
        with pytest.raises(ValueError, match="'not-a-cidr'"):
            parse_cidrs("127.0.0.0/8,not-a-cidr")
        assert parse_cidrs("") == ()


class TestRefusals:
    """With the allow-list empty, nothing on loopback is reached, however the URL spells it."""

    @pytest.mark.parametrize(
        "template",
        [
            "http://127.0.0.1:{port}/",
            "http://localhost:{port}/",  # a hostname resolving to loopback
            "http://[::ffff:127.0.0.1]:{port}/",
            "http://2130706433:{port}/",  # decimal
            "http://0x7f.1:{port}/",  # hex, short form
            "http://127.1:{port}/",
            "http://0177.0.0.1:{port}/",  # octal (httpx refuses to parse it at all)
        ],
    )
    async def test_loopback_in_any_spelling_is_refused_and_never_reached(
        self, template: str
    ) -> None:
        with serving() as target:
            async with OutboundClient() as client:
                with pytest.raises((OutboundError, httpx.InvalidURL)) as refused:
                    await fetch(client, template.format(port=target.port))
        assert target.seen == []
        if isinstance(refused.value, OutboundError):
            assert str(refused.value) == FETCH_FAILED

    async def test_the_metadata_address_is_refused(self) -> None:
        async with OutboundClient() as client:
            with pytest.raises(OutboundError, match=FETCH_FAILED):
                await fetch(client, "http://169.254.169.254/latest/meta-data/")

    async def test_a_name_that_dns_resolves_to_loopback_is_refused(self) -> None:
        with dns_server() as dns, serving() as target:
            dns.a["internal.attacker.test"] = ["127.0.0.1"]
            async with OutboundClient(resolver=a_resolver(dns)) as client:
                with pytest.raises(OutboundError, match=FETCH_FAILED):
                    await fetch(client, f"http://internal.attacker.test:{target.port}/")
        assert target.seen == []
        assert dns.queries[("internal.attacker.test", "A")] == 1

    async def test_one_private_answer_among_public_ones_refuses_the_name(self) -> None:
        async def mixed(host: str, port: int) -> Sequence[str]:
            return ["8.8.8.8", "127.0.0.1"]

        async with OutboundClient(resolver=mixed) as client:
            with pytest.raises(OutboundError):
                await fetch(client, "http://mixed.test/")

    async def test_a_refusal_reads_like_a_closed_port(self) -> None:
        with serving() as target:
            closed_port = target.port
        async with OutboundClient(LOOPBACK) as allowed, OutboundClient() as guarded:
            with pytest.raises(OutboundError) as closed:
                await fetch(allowed, f"http://127.0.0.1:{closed_port}/")
            with pytest.raises(OutboundError) as refused:
                await fetch(guarded, f"http://127.0.0.1:{closed_port}/")
        assert str(closed.value) == str(refused.value) == FETCH_FAILED


class TestRedirectsAndRebinding:
    async def test_a_redirect_is_not_followed_and_a_forced_hop_to_loopback_is_refused(
        self,
    ) -> None:
        only_127_0_0_2 = parse_cidrs("127.0.0.2/32")
        with serving("127.0.0.1") as internal:
            location = {"location": f"{internal.url}/admin"}
            with serving("127.0.0.2", status=302, headers=location) as public:
                async with OutboundClient(only_127_0_0_2) as client:
                    answered = await fetch(client, f"{public.url}/start")
                    assert answered.status_code == 302
                    with pytest.raises(OutboundError):
                        await fetch(client, f"{public.url}/start", follow_redirects=True)
        assert len(public.seen) == 2
        assert internal.seen == []

    async def test_the_checked_address_is_the_one_connected_to(self) -> None:
        """DNS rebinding: the name answers an allowed address once, then loopback (TTL 0). The
        request goes to the address that was checked, and the name is resolved once."""
        only_127_0_0_2 = parse_cidrs("127.0.0.2/32")
        with (
            dns_server() as dns,
            serving("127.0.0.2") as checked,
            serving("127.0.0.1", port=checked.port) as internal,
        ):
            dns.a["rebind.test"] = ["127.0.0.2", "127.0.0.1"]
            url = f"http://rebind.test:{checked.port}/x"
            async with OutboundClient(only_127_0_0_2, resolver=a_resolver(dns)) as client:
                first = await fetch(client, url)
                with pytest.raises(OutboundError):
                    await fetch(client, url)  # the name now answers loopback
        assert first.status_code == 200
        assert checked.seen == [("/x", f"rebind.test:{checked.port}")]
        assert internal.seen == []
        assert dns.queries[("rebind.test", "A")] == 2  # once per request, never again to connect

    async def test_https_keeps_sni_and_certificate_checks_for_the_name(
        self, tmp_path: Path
    ) -> None:
        server_tls, client_tls = _tls_pair(tmp_path, "idp.test")
        with dns_server() as dns, serving("127.0.0.1", tls=server_tls) as idp:
            dns.a["idp.test"] = ["127.0.0.1"]
            dns.a["other.test"] = ["127.0.0.1"]
            async with OutboundClient(
                LOOPBACK, resolver=a_resolver(dns), verify=client_tls
            ) as client:
                ok = await fetch(client, f"https://idp.test:{idp.port}/.well-known/x")
                with pytest.raises(OutboundError):  # same IP, a name the cert does not cover
                    await fetch(client, f"https://other.test:{idp.port}/")
        assert ok.status_code == 200
        assert idp.sni[0] == "idp.test"
        assert idp.seen == [("/.well-known/x", f"idp.test:{idp.port}")]


class TestLimits:
    async def test_a_response_over_the_cap_fails(self) -> None:
        with serving(body=b"x" * 5000) as target:
            async with OutboundClient(LOOPBACK, max_response_bytes=4096) as client:
                with pytest.raises(OutboundError, match=FETCH_FAILED):
                    await fetch(client, target.url)
                async with OutboundClient(LOOPBACK, max_response_bytes=5000) as roomy:
                    assert (await fetch(roomy, target.url)).content == b"x" * 5000

    async def test_proxy_variables_are_ignored(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
        with serving() as target:
            async with OutboundClient(LOOPBACK) as client:
                assert (await fetch(client, target.url)).status_code == 200
        assert len(target.seen) == 1


def _tls_pair(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `name` from a fresh CA, and a client trusting it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tollgate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "leaf.pem", directory / "leaf.key"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )
    return server, client
