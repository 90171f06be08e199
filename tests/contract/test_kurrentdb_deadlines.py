"""KurrentDB calls end within the call timeout, even when the server never answers.

KurrentDB itself is not run here (its contract tests need KURRENTDB_URI). What these tests
stand in for is a frozen server: a socket that accepts connections and then stays silent,
as a SIGSTOPped KurrentDB does. Every call the recorder makes must end with eventsourcing's
OperationalError (a request's 503), not wait for ever.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import ApplicationRecorder, OperationalError, StoredEvent
from eventsourcing.utils import Environment

from infra.kurrentdb_recorder import MarketplaceKurrentDBFactory

CALL_TIMEOUT = 0.5
GIVE_UP_SECONDS = 30.0
"""Far past any bound: a call still waiting then would wait for ever."""


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A kurrentdb:// URI on a socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"kurrentdb://127.0.0.1:{listener.getsockname()[1]}?Tls=false"
    listener.close()
    for conn in accepted:
        conn.close()


def recorder(uri: str, call_timeout: str | None) -> ApplicationRecorder:
    env = {"KURRENTDB_URI": uri}
    if call_timeout is not None:
        env["KURRENTDB_CALL_TIMEOUT"] = call_timeout
    return MarketplaceKurrentDBFactory(Environment("orders", env)).application_recorder()


CALLS: dict[str, Callable[[ApplicationRecorder], Any]] = {
    "append": lambda r: r.insert_events([StoredEvent(uuid4(), 0, "topic", b"{}")]),
    "one stream": lambda r: r.select_events(uuid4()),
    "one stream after a version": lambda r: r.select_events(uuid4(), gt=3),
    "the log": lambda r: r.select_notifications(None, 10),
    "the log's head": lambda r: r.max_notification_id(),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_every_call_ends_with_operational_error(
    silent_server: str, call: Callable[[ApplicationRecorder], Any]
) -> None:
    store = recorder(silent_server, str(CALL_TIMEOUT))
    with ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(call, store)
        with pytest.raises(OperationalError, match=f"did not answer within {CALL_TIMEOUT:g} s"):
            outcome.result(timeout=GIVE_UP_SECONDS)


def test_the_timeout_reaches_the_client(silent_server: str) -> None:
    factory = MarketplaceKurrentDBFactory(
        Environment("orders", {"KURRENTDB_URI": silent_server, "KURRENTDB_CALL_TIMEOUT": "1.5"})
    )
    assert factory.bounded_client.call_timeout == 1.5
    unbounded = MarketplaceKurrentDBFactory(Environment("orders", {"KURRENTDB_URI": silent_server}))
    assert unbounded.bounded_client.call_timeout is None
