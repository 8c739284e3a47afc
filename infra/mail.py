"""Outgoing mail over SMTP (stdlib smtplib in a thread); in dev, with no SMTP_URL, a stderr sink.

`SMTP_URL` is `smtp://[user:password@]host[:port]` (plain, STARTTLS when the server offers it)
or `smtps://…` (implicit TLS). Empty: mails are printed to stderr (the log sink) in dev and test,
and a production process refuses to start. Mails carry one-time links, so they are never written
to the JSON log stream, and no log line here contains a recipient's link or the SMTP password.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

from infra.logging import get_logger
from infra.settings import Settings

log = get_logger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0


class MailConfigError(RuntimeError):
    """SMTP_URL is malformed, or missing where mail must really be sent."""


class MailDeliveryError(RuntimeError):
    """The SMTP server refused or could not be reached (the job retries)."""


@dataclass(frozen=True)
class Mail:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    text: str


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to submit mail, parsed from SMTP_URL."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """Parse `smtp://` or `smtps://` URLs; anything else is a configuration error."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailConfigError("SMTP_URL must look like smtp://[user:password@]host[:port]")
        try:
            port = parts.port
        except ValueError:
            raise MailConfigError("SMTP_URL has an invalid port") from None
        implicit_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit_tls else 25),
            implicit_tls=implicit_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class Mailer(Protocol):
    """Something that delivers a mail or raises MailDeliveryError."""

    async def send(self, mail: Mail) -> None:
        """Deliver one mail."""


class SmtpMailer:
    """Submits mail to an SMTP server, one connection per message, off the event loop."""

    def __init__(self, target: SmtpTarget, sender: str) -> None:
        self._target = target
        self._sender = sender

    def _message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain=self._sender.rpartition("@")[2].strip("> "))
        message.set_content(mail.text)
        return message

    def _deliver(self, message: EmailMessage) -> None:
        target = self._target
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if target.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            smtp.ehlo()
            if not target.implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if target.username is not None:
                smtp.login(target.username, target.password or "")
            smtp.send_message(message)

    async def send(self, mail: Mail) -> None:
        """Deliver one mail; MailDeliveryError names the server, never the content."""
        try:
            await asyncio.to_thread(self._deliver, self._message(mail))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailDeliveryError(
                f"SMTP {self._target.host}:{self._target.port}: {type(exc).__name__}"
            ) from None


class StderrMailer:
    """Development sink: prints each mail to stderr instead of sending it."""

    def __init__(self, sender: str) -> None:
        self._sender = sender

    async def send(self, mail: Mail) -> None:
        """Print the mail, framed so it stands out among JSON log lines."""
        print(  # the dev sink's whole job
            f"----- mail (SMTP_URL is empty: not sent) -----\nFrom: {self._sender}\n"
            f"To: {mail.to}\nSubject: {mail.subject}\n\n{mail.text}\n----- end of mail -----",
            file=sys.stderr,
            flush=True,
        )
        log.info("mail.printed", subject=mail.subject)


def mailer_from_settings(settings: Settings) -> Mailer:
    """The SMTP mailer of SMTP_URL, or the stderr sink outside production."""
    url = settings.smtp_url.get_secret_value()
    if url:
        return SmtpMailer(SmtpTarget.parse(url), settings.mail_from)
    if settings.env == "prod":
        raise MailConfigError("SMTP_URL is required in production (signup and reset send mail)")
    return StderrMailer(settings.mail_from)
