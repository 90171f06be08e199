"""The library's KurrentDB persistence, with a client-side deadline on every call it makes.

kurrentdbclient applies its DefaultDeadline (a whole number of seconds, from the URI) to
appends only: reads, the stream's current version and the log's last position wait as long
as the server takes. DeadlineKurrentDBClient gives each of them the call timeout, and makes
an append once: the library retries a failed one, but an append cut off by its deadline may
have committed, and its retry would then conflict with its own events, so the write path
would decide the change again on top of them (applied twice, answered once). A call that
does not answer in time raises eventsourcing's OperationalError, as the PostgreSQL store does
(infra.postgres_pool.ServerNotAnswering): a request gets its 503, with Retry-After.
Subscriptions keep no deadline: they are meant to last.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    InfrastructureFactoryError,
    Notification,
    OperationalError,
    PersistenceError,
    StoredEvent,
    TrackingRecorder,
)
from eventsourcing.utils import Environment
from eventsourcing_kurrentdb.factory import KurrentDBFactory
from eventsourcing_kurrentdb.recorders import (
    KurrentDBAggregateRecorder,
    KurrentDBApplicationRecorder,
)
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import DeadlineExceededError, ServiceUnavailableError
from kurrentdbclient.streams import AbstractReadResponse

from infra.personal.factory import KEYS_SCHEMA, KEYS_URL, PersonalDataFactory, url_key_store
from infra.personal.keys import KeyStore

CALL_TIMEOUT = "KURRENTDB_CALL_TIMEOUT"
"""Environment key: seconds one KurrentDB call may take (the command API's write store
timeout); unset, calls are not bounded."""
UNANSWERED = (DeadlineExceededError, ServiceUnavailableError)

_append_once = inspect.unwrap(KurrentDBClient.append_to_stream)


@contextmanager
def answered_in_time(seconds: float | None) -> Iterator[None]:
    """Raise a missed deadline or an unreachable server as OperationalError, also when the
    library wrapped it in a PersistenceError (as it does an append's)."""
    try:
        yield
    except PersistenceError as error:
        if not isinstance(error.__cause__, UNANSWERED):
            raise
        raise unanswered(error.__cause__, seconds) from error.__cause__
    except UNANSWERED as error:
        raise unanswered(error, seconds) from error


def unanswered(error: Exception, seconds: float | None) -> OperationalError:
    """The OperationalError a request answers 503 for."""
    bound = f" within {seconds:g} s" if seconds is not None else ""
    return OperationalError(f"KurrentDB did not answer{bound}: {error}")


class DeadlineKurrentDBClient(KurrentDBClient):
    """A KurrentDB client whose every call the recorders make ends within call_timeout
    seconds (None: no bound); an append is tried once (see the module)."""

    call_timeout: float | None = None

    def _bound(self, timeout: float | None) -> float | None:
        return timeout if timeout is not None else self.call_timeout

    def append_events(
        self,
        stream_name: str,
        *,
        events: Iterable[NewEvent],
        current_version: int | StreamState,
        timeout: float | None = None,
        credentials: Any = None,
    ) -> int:
        """Append the events to the stream once, within the deadline."""
        position: int = _append_once(
            self,
            stream_name,
            events=events,
            current_version=current_version,
            timeout=self._bound(timeout),
            credentials=credentials,
        )
        return position

    def read_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        backwards: bool = False,
        resolve_links: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
        credentials: Any = None,
    ) -> AbstractReadResponse:
        """Read the stream's events, all of them within the deadline."""
        return super().read_stream(
            stream_name,
            stream_position=stream_position,
            backwards=backwards,
            resolve_links=resolve_links,
            limit=limit,
            timeout=self._bound(timeout),
            credentials=credentials,
        )

    def read_all(self, *, timeout: float | None = None, **kwargs: Any) -> AbstractReadResponse:
        """Read from the log of all streams, all of it within the deadline."""
        return super().read_all(timeout=self._bound(timeout), **kwargs)

    def get_current_version(
        self, stream_name: str, *, timeout: float | None = None, credentials: Any = None
    ) -> int | Literal[StreamState.NO_STREAM]:
        """The stream's last position, within the deadline."""
        return super().get_current_version(
            stream_name, timeout=self._bound(timeout), credentials=credentials
        )

    def get_commit_position(self, *, timeout: float | None = None, **kwargs: Any) -> int:
        """The log's last commit position, within the deadline."""
        return super().get_commit_position(timeout=self._bound(timeout), **kwargs)


class DeadlineApplicationRecorder(KurrentDBApplicationRecorder):
    """The library's recorder on a DeadlineKurrentDBClient: a call cut off raises
    OperationalError."""

    def __init__(self, client: DeadlineKurrentDBClient) -> None:
        super().__init__(client)
        self.call_timeout = client.call_timeout

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events (once, within the deadline)."""
        with answered_in_time(self.call_timeout):
            return super().insert_events(stored_events, **kwargs)

    def select_events(self, originator_id: Any, **kwargs: Any) -> list[StoredEvent]:
        """One stream's events, within the deadline."""
        with answered_in_time(self.call_timeout):
            return super().select_events(originator_id, **kwargs)

    def select_notifications(self, *args: Any, **kwargs: Any) -> list[Notification]:
        """Events of the log of all streams, within the deadline."""
        with answered_in_time(self.call_timeout):
            return super().select_notifications(*args, **kwargs)

    def max_notification_id(self) -> int | None:
        """The log's last position, within the deadline."""
        with answered_in_time(self.call_timeout):
            return super().max_notification_id()


class MarketplaceKurrentDBFactory(PersonalDataFactory[TrackingRecorder], KurrentDBFactory):
    """The library's KurrentDB factory, whose client bounds each call by the environment's
    CALL_TIMEOUT (see the module)."""

    def __init__(self, env: Environment) -> None:
        InfrastructureFactory.__init__(self, env)
        uri = self.env.get(self.KURRENTDB_URI)
        if uri is None:
            raise InfrastructureFactoryError(f"{self.KURRENTDB_URI!r} not found in environment")
        client = DeadlineKurrentDBClient(
            uri=uri, root_certificates=self.env.get(self.KURRENTDB_ROOT_CERTIFICATES)
        )
        seconds = self.env.get(CALL_TIMEOUT)
        client.call_timeout = float(seconds) if seconds else None
        self.client = self.bounded_client = client

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """The library's aggregate recorder (snapshots), on the bounded client."""
        return KurrentDBAggregateRecorder(self.client, for_snapshotting=purpose == "snapshots")

    def application_recorder(self) -> ApplicationRecorder:
        """The log's recorder, on the bounded client."""
        return DeadlineApplicationRecorder(self.bounded_client)

    def key_store(self) -> KeyStore:
        """The data keys, in the PostgreSQL that KEYS_URL names (in schema KEYS_SCHEMA)."""
        url = self.env.get(KEYS_URL)
        if not url:
            raise InfrastructureFactoryError(f"{KEYS_URL!r} not found in environment")
        return url_key_store(url, self.env.get(KEYS_SCHEMA) or "public")
