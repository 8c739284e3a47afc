"""SSO email domains: an org's claims and their DNS proofs.

An org claims a domain by listing it in its SSO connection and proves it by publishing
`tollgate-verify=<token>` at `_tollgate.<domain>` (TXT), then asking for the check. Until then
the domain neither enforces SSO nor lets the org's provider sign anyone in by email. Many orgs
may claim a domain (so nobody can squat one to block its owner); one org may hold it verified.
Public mail domains cannot be claimed at all.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from infra.domain_proof import DnsLookupError, txt_values
from infra.errors import NotFoundError, UnavailableError, ValidationError
from infra.ids import new_id
from tenancy import audit
from tenancy.context import TenantContext
from tenancy.errors import DomainProofMissingError, SsoDomainTakenError
from tenancy.models import SsoDomain
from tenancy.public_domains import is_public_mail_domain
from tenancy.repository import SsoRepository
from tenancy.schemas import SsoDomainOut
from tenancy.sso_repository import GlobalSsoDomainRepository, SsoDomainRepository

RECORD_PREFIX = "_tollgate."
VALUE_PREFIX = "tollgate-verify="
TOKEN_BYTES = 16


def normalize_domain(raw: str, field: str = "domains") -> str:
    """A lower-case ASCII (IDNA) domain name with at least two labels, or ValidationError."""
    candidate = raw.strip().rstrip(".").lower()
    try:
        ascii_name = candidate.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    valid = (
        0 < len(ascii_name) <= 253
        and len(labels) >= 2
        and all(
            0 < len(label) <= 63
            and label[0] != "-"
            and label[-1] != "-"
            and all(c.isalnum() or c == "-" for c in label)
            for label in labels
        )
        and not labels[-1].isdigit()
    )
    if not valid:
        raise ValidationError(f"{field}: {raw!r} is not a domain name", field=field)
    return ascii_name


def claimable_domain(raw: str) -> str:
    """A normalized domain an org may claim (not a public mail provider's), or ValidationError."""
    domain = normalize_domain(raw)
    if is_public_mail_domain(domain):
        raise ValidationError(
            f"domains: {domain} is a public mail domain; anyone can have an address there, "
            "so no organization can claim it",
            field="domains",
        )
    return domain


def record_name(domain: str) -> str:
    """Where the proof's TXT record lives."""
    return RECORD_PREFIX + domain


def record_value(token: str) -> str:
    """What the proof's TXT record must say."""
    return VALUE_PREFIX + token


def out(claim: SsoDomain) -> SsoDomainOut:
    """The claim as the org sees it: status and the record to publish."""
    return SsoDomainOut(
        domain=claim.domain,
        status="verified" if claim.verified_at is not None else "pending",
        record_type="TXT",
        record_name=record_name(claim.domain),
        record_value=record_value(claim.token),
        verified_at=claim.verified_at,
        checked_at=claim.checked_at,
    )


async def _refuse_if_held_elsewhere(
    session: AsyncSession, context: TenantContext, domain: str
) -> None:
    holder = await GlobalSsoDomainRepository(session).verified_holder(domain)
    if holder is not None and holder != context.org_id:
        raise SsoDomainTakenError(
            f"{domain} is verified by another organization", field="domains", domain=domain
        )


async def sync_claims(
    session: AsyncSession, context: TenantContext, domains: Sequence[str]
) -> None:
    """Make the org's claims exactly `domains` (normalized): new ones get a fresh token, kept
    ones keep their proof, dropped ones lose it. 409 for a domain another org has verified."""
    await SsoRepository(session, context).lock_domains(domains)
    repository = SsoDomainRepository(session, context)
    await repository.remove_except(domains)
    for domain in domains:
        await _refuse_if_held_elsewhere(session, context, domain)
        if await repository.get(domain) is None:
            await repository.add(
                SsoDomain(id=new_id("sdm"), domain=domain, token=secrets.token_hex(TOKEN_BYTES))
            )


async def drop_claims(session: AsyncSession, context: TenantContext) -> None:
    """Forget every claim of the org (its connection is gone)."""
    await SsoDomainRepository(session, context).remove_all()


async def list_claims(session: AsyncSession, context: TenantContext) -> list[SsoDomainOut]:
    """The org's domains with their proof status and TXT record."""
    return [out(claim) for claim in await SsoDomainRepository(session, context).all()]


async def verified_domains(session: AsyncSession, context: TenantContext) -> frozenset[str]:
    """The org's proven domains."""
    claims = await SsoDomainRepository(session, context).all()
    return frozenset(c.domain for c in claims if c.verified_at is not None)


async def verify(
    session: AsyncSession, context: TenantContext, raw_domain: str, nameservers: str
) -> SsoDomainOut:
    """Check the domain's TXT proof now; audited when it succeeds. 404 for a domain the org does
    not claim, 409 when another org holds it verified, 422 when the record is not there."""
    domain = normalize_domain(raw_domain, field="domain")
    repository = SsoDomainRepository(session, context)
    if await repository.get(domain) is None:
        raise NotFoundError("This organization does not claim that domain")
    await SsoRepository(session, context).lock_domains([domain])
    claim = await repository.get(domain, for_update=True)
    if claim is None:
        raise NotFoundError("This organization does not claim that domain")
    if claim.verified_at is not None:
        return out(claim)
    await _refuse_if_held_elsewhere(session, context, domain)
    expected = record_value(claim.token)
    try:
        values = await txt_values(record_name(domain), nameservers)
    except DnsLookupError as exc:
        raise UnavailableError(str(exc), headers={"Retry-After": "5"}) from None
    if not any(hmac.compare_digest(v.strip().encode(), expected.encode()) for v in values):
        raise DomainProofMissingError(
            f"No TXT record {expected!r} at {record_name(domain)} yet (DNS changes can take a "
            "while to reach every nameserver)",
            field="domain",
            domain=domain,
            record_name=record_name(domain),
            record_value=expected,
        )
    await repository.mark_verified(claim, datetime.now(UTC))
    await audit.record(
        session, context, "sso.domain_verified", "sso_domain", claim.id, domain=domain
    )
    return out(claim)
