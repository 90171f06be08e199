"""A local SMTP server for tests that keeps every message it receives."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port


class Collector:
    """An aiosmtpd handler that keeps every message, then waits a moment before its 250.

    The wait widens the window between the message being taken and the sender hearing so,
    where a kill -9 makes the sender send that message again.
    """

    def __init__(self, reply_delay: float = 0.0) -> None:
        self.reply_delay = reply_delay
        self.lock = threading.Lock()
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(message)
        await asyncio.sleep(self.reply_delay)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    collector, port = Collector(reply_delay=0.03), free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield collector, port
    controller.stop()


def message_id(message: EmailMessage) -> uuid.UUID:
    value = str(message["Message-ID"])
    assert value.startswith("<") and value.endswith("@marketplace>"), value
    return uuid.UUID(value[1:].split("@")[0])
