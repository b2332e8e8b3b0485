"""The SMTP sender (`hub.mail`) against a real SMTP server on loopback (aiosmtpd), and the
`[mail]` / `[sms]` configuration."""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from fleet.tls import TlsFiles, self_signed
from hub.config import load_hub_config
from hub.errors import ConfigError
from hub.mail import MailError, SmtpSender, SmtpSettings, load_smtp_password
from hub.sms import load_sms_token
from simulators.mailbox import Mailbox, free_port


def _message(to: str = "patient@example.org") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "rendez-vous@hub.example.fr"
    message["To"] = to
    message["Subject"] = "Votre rendez-vous du lundi 14 décembre 2026 est confirmé"
    message["Message-ID"] = "<ntf-1@hub.example.fr>"
    message.set_content("Votre code de rendez-vous : 123 456\n")
    return message


def test_a_message_arrives_whole_at_the_smtp_server(tmp_path: Path) -> None:
    with Mailbox(folder=tmp_path / "mails") as mailbox:
        sender = SmtpSender(SmtpSettings(host=mailbox.host, port=mailbox.port, timeout_s=5))
        asyncio.run(sender.send(_message()))
        [received] = mailbox.wait_for(1, timeout_s=5)
    assert received["Subject"] == "Votre rendez-vous du lundi 14 décembre 2026 est confirmé"
    assert received["Message-ID"] == "<ntf-1@hub.example.fr>"
    assert "123 456" in received.get_content()
    assert mailbox.recipients() == [["patient@example.org"]]
    assert [p.name for p in (tmp_path / "mails").iterdir()] == ["0001.eml"]


def test_a_server_that_is_down_is_a_mail_error_without_the_address() -> None:
    port = free_port()
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=port, timeout_s=2))
    with pytest.raises(MailError) as failed:
        asyncio.run(sender.send(_message()))
    assert "unreachable" in str(failed.value)
    assert "patient@" not in str(failed.value)
    assert not failed.value.permanent


def test_a_temporary_refusal_is_not_permanent_and_the_next_try_goes_through() -> None:
    with Mailbox() as mailbox:
        mailbox.fail_next(1)
        sender = SmtpSender(SmtpSettings(host=mailbox.host, port=mailbox.port, timeout_s=5))
        with pytest.raises(MailError) as failed:
            asyncio.run(sender.send(_message()))
        assert "451" in str(failed.value)
        assert not failed.value.permanent
        asyncio.run(sender.send(_message()))
        assert len(mailbox.wait_for(1, timeout_s=5)) == 1


def test_a_stopped_mailbox_comes_back_on_its_port() -> None:
    mailbox = Mailbox().start()
    try:
        sender = SmtpSender(SmtpSettings(host=mailbox.host, port=mailbox.port, timeout_s=2))
        mailbox.stop()
        with pytest.raises(MailError):
            asyncio.run(sender.send(_message()))
        mailbox.start()
        asyncio.run(sender.send(_message()))
        assert len(mailbox.wait_for(1, timeout_s=5)) == 1
    finally:
        mailbox.stop()


def test_mail_configuration_is_checked() -> None:
    with pytest.raises(ConfigError, match="not both"):
        load_hub_config(None, overrides={"mail": {"starttls": True, "tls": True}})
    with pytest.raises(ConfigError, match="from_address"):
        load_hub_config(None, overrides={"mail": {"enabled": True}})
    with pytest.raises(ConfigError, match="never sent in clear"):
        load_hub_config(None, overrides={"mail": {"host": "smtp.example.fr", "username": "hub"}})
    with pytest.raises(ConfigError, match="needs `url`"):
        load_hub_config(None, overrides={"sms": {"provider": "http"}})
    config = load_hub_config(
        None,
        overrides={
            "mail": {"enabled": True, "from_address": "rdv@hub.example.fr", "starttls": True},
            "sms": {"provider": "http", "url": "https://sms.example.fr/send", "sender": "BoxMed"},
        },
    )
    assert config.mail.enabled and config.mail.starttls
    assert config.sms.provider == "http"


def test_the_smtp_password_and_sms_token_come_from_the_secret_sources(tmp_path: Path) -> None:
    config = load_hub_config(
        None,
        data_dir=tmp_path,
        overrides={"mail": {"username": "hub", "starttls": True, "host": "smtp.example.fr"}},
    )
    env = {"HUB_SMTP_PASSWORD": "s3cret\n"}
    assert load_smtp_password(config, env) == "s3cret"
    assert "HUB_SMTP_PASSWORD" not in env  # read once, then removed
    with pytest.raises(ConfigError, match="no SMTP password"):
        load_smtp_password(config, {})
    assert load_sms_token(config, {}) is None  # no source: no token
    token_file = tmp_path / "hub-sms.token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"tok-123\n")
    os.close(fd)
    assert load_sms_token(config, {}) == "tok-123"


def _server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.bundle)
    return context


def test_starttls_and_authentication_with_the_certificate_checked(tmp_path: Path) -> None:
    files = self_signed(tmp_path / "tls")
    with Mailbox(tls_context=_server_context(files), credentials=("hub", "s3cret")) as mailbox:
        settings = SmtpSettings(
            host=mailbox.host,
            port=mailbox.port,
            security="starttls",
            username="hub",
            password="s3cret",
            timeout_s=5,
        )
        asyncio.run(SmtpSender(settings, tls=files.client_context()).send(_message()))
        assert len(mailbox.wait_for(1, timeout_s=5)) == 1
        wrong = replace(settings, password="nope")
        with pytest.raises(MailError, match="authentication refused"):
            asyncio.run(SmtpSender(wrong, tls=files.client_context()).send(_message()))
        plain = replace(settings, security="none")
        with pytest.raises(MailError):  # the server requires STARTTLS first
            asyncio.run(SmtpSender(plain).send(_message()))
        untrusted = ssl.create_default_context()  # the system's roots: not this certificate
        with pytest.raises(MailError, match="tls failed"):
            asyncio.run(SmtpSender(settings, tls=untrusted).send(_message()))
        assert mailbox.logins[0] == ("hub", True)
        assert set(mailbox.logins[1:]) == {("hub", False)}  # smtplib tries each mechanism
        assert len(mailbox.messages) == 1


def test_implicit_tls(tmp_path: Path) -> None:
    files = self_signed(tmp_path / "tls")
    with Mailbox(tls_context=_server_context(files), implicit_tls=True) as mailbox:
        settings = SmtpSettings(host=mailbox.host, port=mailbox.port, security="tls", timeout_s=5)
        asyncio.run(SmtpSender(settings, tls=files.client_context()).send(_message()))
        assert len(mailbox.wait_for(1, timeout_s=5)) == 1
