"""The mail adapter: SMTP_URL parsing, delivery to a real SMTP server, dev sink, prod refusal."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from infra.mail import (
    Mail,
    MailConfigError,
    MailDeliveryError,
    SmtpMailer,
    SmtpTarget,
    StderrMailer,
    mailer_from_settings,
)
from infra.settings import Settings
from tests.support.processes import free_port
from tests.support.smtp import SmtpServer

MAIL = Mail(to="ada@example.com", subject="Hello", text="A link: https://x/#token=tgv_abc\n")


class TestSmtpUrl:
    def test_host_port_and_credentials(self) -> None:
        target = SmtpTarget.parse("smtp://mailer:p%40ss@mail.example.com:2525")
        assert (target.host, target.port, target.implicit_tls) == ("mail.example.com", 2525, False)
        assert (target.username, target.password) == ("mailer", "p@ss")

    def test_default_ports(self) -> None:
        assert SmtpTarget.parse("smtp://mail.example.com").port == 25
        smtps = SmtpTarget.parse("smtps://mail.example.com")
        assert (smtps.port, smtps.implicit_tls) == (465, True)

    @pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://h:notaport"])
    def test_malformed_urls_are_configuration_errors(self, url: str) -> None:
        with pytest.raises(MailConfigError):
            SmtpTarget.parse(url)


class TestMailerFromSettings:
    def test_production_refuses_to_run_without_smtp(self, settings: Settings) -> None:
        with pytest.raises(MailConfigError, match="SMTP_URL"):
            mailer_from_settings(settings.model_copy(update={"env": "prod"}))

    def test_dev_without_smtp_prints_to_stderr(self, settings: Settings) -> None:
        mailer = mailer_from_settings(settings.model_copy(update={"smtp_url": SecretStr("")}))
        assert isinstance(mailer, StderrMailer)

    async def test_the_dev_sink_prints_the_whole_mail(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        await StderrMailer("Tollgate <t@example.com>").send(MAIL)
        printed = capsys.readouterr().err
        assert "To: ada@example.com" in printed
        assert "#token=tgv_abc" in printed

    def test_a_url_gives_the_smtp_mailer(self, settings: Settings) -> None:
        configured = settings.model_copy(update={"smtp_url": SecretStr("smtp://127.0.0.1:2525")})
        assert isinstance(mailer_from_settings(configured), SmtpMailer)


class TestSmtpDelivery:
    async def test_a_mail_reaches_the_server(self, smtp_server: SmtpServer) -> None:
        smtp_server.clear()
        mailer = SmtpMailer(SmtpTarget.parse(smtp_server.url), "Tollgate <t@example.com>")
        await mailer.send(MAIL)
        (received,) = smtp_server.to("ada@example.com")
        assert received.subject == "Hello"
        assert received.sender == "t@example.com"
        assert received.token() == "tgv_abc"

    async def test_an_unreachable_server_is_a_delivery_error_without_the_content(self) -> None:
        mailer = SmtpMailer(
            SmtpTarget.parse(f"smtp://127.0.0.1:{free_port()}"), "Tollgate <t@example.com>"
        )
        with pytest.raises(MailDeliveryError) as raised:
            await mailer.send(MAIL)
        assert "tgv_abc" not in str(raised.value)
        assert "ada@example.com" not in str(raised.value)
