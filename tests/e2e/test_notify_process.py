"""`marketplace notify` as a user runs it: every mail arrives, also across kill -9 restarts."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.mail import Mail, MailRejected, MailSink, MailUnavailable, SmtpSender, local_sink
from infra.settings import MailSettings, Settings
from tests.conftest import free_port
from tests.mail_collector import Collector, message_id
from tests.projections.mail_shop import MailShop
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

ARRIVAL_SECONDS = 30.0
KILLS = 5


@pytest.fixture
def commands(postgres_url: str) -> Iterator[Commands]:
    commands = Commands(eventsourcing_env(Settings(), postgres_url))
    yield commands
    commands.close()


@pytest.fixture
def notify(
    postgres_url: str, smtp: tuple[Collector, int], tmp_path: Path
) -> Iterator[WorkerProcess]:
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_DATA_DIR": str(tmp_path / "data"),
        "MARKETPLACE_SMTP_HOST": "127.0.0.1",
        "MARKETPLACE_SMTP_PORT": str(smtp[1]),
        "MARKETPLACE_SMTP_TIMEOUT_SECONDS": "5",
        "MARKETPLACE_MAIL_FROM": "Shop <shop@shop.test>",
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }
    process = WorkerProcess(["notify", "--batch-size", "5"], env, tmp_path / "notify.log")
    yield process
    if process.alive():
        process.kill()


def wait_for_mails(sink: Collector, shop: MailShop, process: WorkerProcess) -> list[EmailMessage]:
    """Every message once each expected Message-ID has arrived; fail after a bound."""
    expected = {mail.message_id for mail in shop.expected}
    deadline = time.monotonic() + ARRIVAL_SECONDS
    while True:
        messages = sink.messages()
        if expected <= {message_id(m) for m in messages}:
            return messages
        if not process.alive():
            pytest.fail(f"notify exited: {process.log()}")
        if time.monotonic() > deadline:
            missing = len(expected - {message_id(m) for m in messages})
            pytest.fail(f"{missing} of {len(expected)} mails missing\n{process.log()}")
        time.sleep(0.05)


def assert_each_expected_mail(messages: list[EmailMessage], shop: MailShop) -> Counter[uuid.UUID]:
    """Each message is an expected one, to its recipient with its subject; the counts per id."""
    expected = {mail.message_id: mail for mail in shop.expected}
    counts = Counter(message_id(m) for m in messages)
    assert set(counts) == set(expected)
    for message in messages:
        mail = expected[message_id(message)]
        assert mail.to_address in str(message["To"])
        assert str(message["Subject"]) == mail.subject
        assert str(message["From"]) == "Shop <shop@shop.test>"
        assert str(mail.order_id) in message.get_content()
    return counts


def test_the_smtp_sender_delivers_to_the_local_mail_sink(tmp_path: Path) -> None:
    sink = MailSink(tmp_path / "mail", port=free_port())
    sink.start()
    mail = Mail(str(uuid.uuid4()), "zoe@shop.test", "Zoë Ünal", "Order 1A2B confirmed ✓", "Grüße\n")
    try:
        with SmtpSender(sink.host, sink.port, mail_from="Shop <shop@shop.test>") as sender:
            sender.send(mail)
            sender.send(mail)
    finally:
        sink.stop()

    messages = sink.messages()
    assert len(messages) == 2 and len(sink.files()) == 2
    first = messages[0]
    assert str(first["Message-ID"]) == f"<{mail.message_id}@marketplace>"
    assert str(first["To"]) == "Zoë Ünal <zoe@shop.test>"
    assert str(first["Subject"]) == mail.subject
    assert first.get_content().replace("\r\n", "\n") == "Grüße\n"
    assert messages[1]["Message-ID"] == first["Message-ID"]


def test_up_runs_the_local_sink_only_for_the_default_smtp_host(tmp_path: Path) -> None:
    sink = local_sink(Settings(data_dir=tmp_path, mail=MailSettings(port=2525)))

    assert sink is not None and (sink.folder, sink.port) == (tmp_path / "mail", 2525)
    assert local_sink(Settings(mail=MailSettings(host="smtp.example.com"))) is None


class Refuser:
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 no such mailbox"


def test_a_refused_recipient_is_rejected_and_a_closed_port_is_unavailable() -> None:
    port = free_port()
    controller = Controller(Refuser(), hostname="127.0.0.1", port=port)
    controller.start()
    mail = Mail(str(uuid.uuid4()), "nobody@shop.test", "", "s", "b\n")
    try:
        sender = SmtpSender("127.0.0.1", port, mail_from="shop@shop.test")
        with sender, pytest.raises(MailRejected) as refused:
            sender.send(mail)
    finally:
        controller.stop()
    closed = SmtpSender("127.0.0.1", free_port(), mail_from="shop@shop.test", timeout=2)
    with closed, pytest.raises(MailUnavailable):
        closed.send(mail)

    assert refused.value.code == 550


def test_every_mail_the_orders_cause_arrives_once(
    commands: Commands, smtp: tuple[Collector, int], notify: WorkerProcess
) -> None:
    sink = smtp[0]
    rng = random.Random(7)
    shop = MailShop(commands)
    customers = [shop.customer(f"Shopper{n}") for n in range(3)]
    sellers = [shop.seller(f"Seller{n}") for n in range(3)]
    for _ in range(4):
        shop.random_order(rng, customers, sellers)
    notify.start()
    for _ in range(8):
        shop.random_order(rng, customers, sellers)

    messages = wait_for_mails(sink, shop, notify)
    code = notify.stop()

    assert code == 0, notify.log()
    counts = assert_each_expected_mail(messages, shop)
    assert set(counts.values()) == {1}
    assert len(shop.expected) >= 12


class Stream:
    """Appends random orders in a background thread until a count is reached."""

    def __init__(self, shop: MailShop, orders: int, seed: int) -> None:
        self.shop = shop
        self.orders = orders
        self.rng = random.Random(seed)
        self.customers = [shop.customer(f"Shopper{n}") for n in range(4)]
        self.sellers = [shop.seller(f"Seller{n}") for n in range(3)]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for _ in range(self.orders):
                self.shop.random_order(self.rng, self.customers, self.sellers)
                time.sleep(self.rng.uniform(0, 0.06))
        except BaseException as error:
            self.error = error

    def finish(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the order stream did not finish"
        if self.error is not None:
            raise self.error


def test_kill_9_at_random_moments_loses_no_mail_and_repeats_at_most_one_per_kill(
    commands: Commands, smtp: tuple[Collector, int], notify: WorkerProcess
) -> None:
    sink = smtp[0]
    rng = random.Random(11)
    shop = MailShop(commands)
    stream = Stream(shop, orders=45, seed=12)
    notify.start()
    stream.thread.start()
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.2, 0.8))
        notify.kill()
        notify.start()
    stream.finish()

    messages = wait_for_mails(sink, shop, notify)
    code = notify.stop()

    assert code == 0, notify.log()
    counts = assert_each_expected_mail(messages, shop)
    repeats = sum(counts.values()) - len(counts)
    print(f"{len(counts)} mails, {repeats} repeated after {KILLS} kills")
    assert repeats <= KILLS
    assert len(shop.expected) >= 45
