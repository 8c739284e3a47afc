"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and mail-job helpers.

The `smtp_server` fixture runs one server per test session; `mailbox` empties it for a test,
points the account actors' mailer at it and records the jobs units of work send, so a test can
run the mail jobs (`await mailbox.deliver()`) and read the links out of the mails received.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import jobs
from infra.mail import SmtpMailer, SmtpTarget
from tests.support.processes import free_port
from workers import runtime
from workers.actor import run_inline
from workers.actors import accounts as account_actors

MAIL_ACTORS = ("accounts.send_verification_mail", "accounts.send_password_reset_mail")
MAIL_FROM = "Tollgate Tests <no-reply@tollgate.test>"
MAIL_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server received it."""

    sender: str
    recipients: list[str]
    subject: str
    text: str

    def token(self) -> str:
        """The token of the mail's link (`…#token=<token>`)."""
        found = re.search(r"#token=([A-Za-z0-9_]+)", self.text)
        assert found, self.text
        return found.group(1)


class _Collector:
    """The aiosmtpd handler: parses and keeps every message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[ReceivedMail] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        parsed = message_from_bytes(
            raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default
        )
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        mail = ReceivedMail(
            sender=str(envelope.mail_from),
            recipients=list(envelope.rcpt_tos),
            subject=str(parsed["subject"]),
            text=body.get_content() if body is not None else "",
        )
        with self.lock:
            self.received.append(mail)
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on a loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        """SMTP_URL for this server."""
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (returns once the server answers)."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def clear(self) -> None:
        """Forget what was received."""
        with self._collector.lock:
            self._collector.received.clear()

    def received(self) -> list[ReceivedMail]:
        """Every message received since the last clear, oldest first."""
        with self._collector.lock:
            return list(self._collector.received)

    def to(self, address: str) -> list[ReceivedMail]:
        """Messages for one recipient."""
        return [mail for mail in self.received() if address in mail.recipients]


class Mailbox:
    """The test's view: records the jobs sent after commit, runs mail jobs, reads the server."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.sent: list[jobs.Job] = []

    def send(self, job: jobs.Job) -> None:
        """The JobSender side: keep every job (only mail jobs are ever run)."""
        self.sent.append(job)

    def queued(self, actor: str) -> list[jobs.Job]:
        """Recorded jobs of one actor, not yet run."""
        return [job for job in self.sent if job.actor == actor]

    async def deliver(self) -> int:
        """Run every recorded mail job, as a worker would; how many ran."""
        pending = [job for job in self.sent if job.actor in MAIL_ACTORS]
        self.sent = [job for job in self.sent if job.actor not in MAIL_ACTORS]
        for job in pending:
            await run_inline(job.actor, *job.args, **job.kwargs)
        return len(pending)

    async def last_to(self, address: str) -> ReceivedMail:
        """The newest mail for an address, after delivering what is queued."""
        await self.deliver()
        deadline = asyncio.get_running_loop().time() + MAIL_WAIT_SECONDS
        while not (mails := self.server.to(address)):
            assert asyncio.get_running_loop().time() < deadline, f"no mail for {address}"
            await asyncio.sleep(0.02)
        return mails[-1]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """One SMTP server for the test session."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def mailbox(
    client: httpx.AsyncClient,
    smtp_server: SmtpServer,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Mailbox]:
    """Mail jobs run on demand against the real SMTP server (after the app's lifespan started)."""
    smtp_server.clear()
    box = Mailbox(smtp_server)
    jobs.install_sender(box)
    runtime.use_session_factory(session_factory)
    account_actors.use_mailer(SmtpMailer(SmtpTarget.parse(smtp_server.url), MAIL_FROM))
    yield box
    account_actors.use_mailer(None)
    runtime.use_session_factory(None)
    jobs.install_sender(None)
