"""Reading one bounded context's event log, as decoded domain events with positions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.utils import Environment

TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
)


@dataclass(frozen=True)
class Positioned:
    """A domain event and its position in its log."""

    log: str
    position: int
    event: Any


class ContextLog(Application[UUID]):
    """Read-only access to the log named log_name, with the same persistence as the writers."""

    transient_errors = TRANSIENT
    """Errors from reading the log that mean its store is unavailable for now (retried)."""

    def __init__(self, env: Mapping[str, str], log_name: str) -> None:
        self.log_name = log_name
        super().__init__(env=dict(env))

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """Use only the given environment, named for the log (so the same table is read)."""
        values = dict(env or {})
        values["CREATE_TABLE"] = values.get("CREATE_TABLE", "y")
        return Environment(self.log_name, values)

    def read(self, after: int, limit: int) -> list[Positioned]:
        """Up to limit events recorded after the given position, oldest first."""
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [
            Positioned(self.log_name, n.id, self.mapper.to_domain_event(n)) for n in notifications
        ]

    def head(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0
