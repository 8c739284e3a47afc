"""`tollgate run --demo`: a demo org, a fresh project key and curl lines that work as printed."""

from __future__ import annotations

import asyncio
import secrets

from infra.db import create_engine, create_session_factory, unit_of_work
from infra.settings import Settings
from tenancy import accounts, projects
from tenancy.authz import UserPrincipal, org_context
from tenancy.repository import GlobalOrgRepository, UserRepository
from tenancy.roles import Permission
from tenancy.scoping import bind_user

DEMO_EMAIL = "demo@tollgate.dev"
DEMO_ORG = "Demo Org"


async def _demo(settings: Settings) -> list[str]:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            user = await UserRepository(session).by_email(DEMO_EMAIL)
            password = None
            if user is None:
                password = secrets.token_urlsafe(12)
                user, *_ = await accounts.signup(
                    session,
                    email=DEMO_EMAIL,
                    password=password,
                    name="Demo User",
                    org_name=DEMO_ORG,
                    ip=None,
                    user_agent="tollgate-demo",
                    verified=True,  # the operator's own account: no mail to an example address
                )
            issued = await accounts.issue_session(session, user.id, None, "tollgate-demo")
            principal = UserPrincipal(user.id, user.email, user.name, "", b"", via_cookie=False)
            await bind_user(session, user.id)
            org, _ = (await GlobalOrgRepository(session).memberships_of(user.id))[0]
            ctx = await org_context(session, principal, org.id, Permission.KEYS_WRITE, None)
            project = (await projects.list_projects(session, ctx, None, 1))[0]
            key = await projects.create_key(
                session,
                ctx,
                project_id=project.id,
                name="demo key",
                scopes=None,
                expires_at=None,
                rate_limits=None,
                lookup=None,  # a fresh random hash, made before any server of this demo runs
            )
    finally:
        await engine.dispose()
    url = settings.base_url
    lines = [
        "",
        f"Console: {url}/  (log in as {DEMO_EMAIL}; its project: "
        f"{url}/orgs/{org.slug}/projects/{project.id})",
        "",
        f"Demo org: {org.name} (slug {org.slug}, id {org.id})",
        f"  user {DEMO_EMAIL}" + (f"  password {password}" if password else " (existing)"),
        f"  session token: {issued.token}",
        f"  project {project.name}: {project.id}",
        f"  project key (shown once): {key.secret}",
        "",
        "Try it:",
        f'  curl -s {url}/v1/me -H "Authorization: Bearer {issued.token}"',
        f"  curl -s {url}/p/{project.id}/ingest/metrics -H 'Authorization: Bearer {key.secret}' "
        """-H 'content-type: application/json' -d '{"metric_name": "http_requests_total", """
        """"value": 100, "metric_type": "counter", "labels": {"endpoint": "/api/users"}, """
        """"service_id": "my-api"}'""",
        f"  curl -s {url}/p/{project.id}/prometheus/api/v1/query "
        f"-H 'Authorization: Bearer {key.secret}' --data-urlencode 'query=http_requests_total'",
        f"  curl -s {url}/p/{project.id}/ingest/logs -H 'Authorization: Bearer {key.secret}' "
        """-H 'content-type: application/json' -d '{"service_id": "my-api", "level": "ERROR", """
        """"message": "Database timeout", "attributes": {"user_id": "123"}}'""",
        f"  curl -s {url}/p/{project.id}/logs/search -H 'Authorization: Bearer {key.secret}' "
        """-H 'content-type: application/json' -d '{"query": "timeout user_id:123"}'""",
        f"  curl -s {url}/v1/orgs/{org.slug}/usage -H 'Authorization: Bearer {issued.token}'",
        "",
        "OpenTelemetry SDK (OTLP/HTTP):",
        f"  export OTEL_EXPORTER_OTLP_ENDPOINT={url}/p/{project.id}/otlp",
        f'  export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {key.secret}"',
        "  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "",
    ]
    return lines


def demo_banner(settings: Settings) -> list[str]:
    """Create (or reuse) the demo org and describe how to use it."""
    return asyncio.run(_demo(settings))
