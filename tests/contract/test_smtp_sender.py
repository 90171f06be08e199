"""The SMTP sender against a real SMTP server: any address a customer can register is sent or
refused as that mail's rejection, never an error that stops the notify worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from infra.mail import Mail, MailRejected, SmtpSender
from tests.conftest import free_port
from tests.mail_collector import Collector


def server(smtputf8: bool) -> Iterator[tuple[Collector, SmtpSender]]:
    collector, port = Collector(), free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    sender = SmtpSender("127.0.0.1", port, mail_from="Shop <shop@example.com>", timeout=5)
    yield collector, sender
    sender.close()
    controller.stop()


@pytest.fixture
def utf8_server() -> Iterator[tuple[Collector, SmtpSender]]:
    yield from server(smtputf8=True)


@pytest.fixture
def ascii_server() -> Iterator[tuple[Collector, SmtpSender]]:
    yield from server(smtputf8=False)


def mail(address: str, name: str = "Jürgen \u202e Åsa 👩‍💻") -> Mail:
    return Mail(str(uuid.uuid4()), address, name, "Your order 🧾", "Thank you.\n")


@pytest.mark.parametrize("address", ["jürgen@example.com", "ann@exämple.com", "ann@example.com"])
def test_a_non_ascii_address_is_delivered_with_smtputf8(
    utf8_server: tuple[Collector, SmtpSender], address: str
) -> None:
    collector, sender = utf8_server

    sender.send(mail(address))

    (received,) = collector.messages()
    to = received["To"].addresses[0]
    assert as_sent(to.addr_spec) == address
    assert as_sent(to.display_name) == "Jürgen \u202e Åsa 👩‍💻"
    assert str(received["Subject"]) == "Your order 🧾"


def test_a_non_ascii_address_is_rejected_by_a_server_without_smtputf8(
    ascii_server: tuple[Collector, SmtpSender],
) -> None:
    collector, sender = ascii_server

    with pytest.raises(MailRejected, match="cannot take this address"):
        sender.send(mail("jürgen@example.com"))
    sender.send(mail("ann@example.com"))

    assert [m["To"].addresses[0].addr_spec for m in collector.messages()] == ["ann@example.com"]


def as_sent(header_text: str) -> str:
    """Header text as the server got it: raw UTF-8 (RFC 6532) is read back with escapes."""
    return header_text.encode("utf-8", "surrogateescape").decode()


@pytest.mark.parametrize("address", ["no at sign", "a@b@c", "<>@x.test"])
def test_an_address_no_message_can_carry_is_rejected(
    utf8_server: tuple[Collector, SmtpSender], address: str
) -> None:
    collector, sender = utf8_server

    with pytest.raises(MailRejected):
        sender.send(mail(address))

    assert collector.messages() == []
