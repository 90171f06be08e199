"""Personal data bound to the configured stores: sealing what was stored plain (seal-legacy)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from commands.services import Commands
from infra.audit.rewrites import Rewrite
from infra.eventstore import eventsourcing_env
from infra.personal.legacy import LegacyLog, seal_legacy
from infra.personal.mapper import PersonalDataMapper
from infra.postgres_recorder import ArrayInsertPostgresRecorder
from infra.settings import Settings
from infra.stores import stores
from marketplace.audit_chain import checkpoint_book


class CannotSeal(ValueError):
    """The configured stores cannot seal legacy personal data (sealing off, or not PostgreSQL)."""


def seal_legacy_logs(
    settings: Settings,
    reason: str,
    persons: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[Rewrite]:
    """Seal the personal data every log holds plain (only persons', when given), each
    stream's rows in one transaction, each signed as a sanctioned rewrite of its log."""
    if not settings.events.encrypt_personal_data:
        raise CannotSeal("sealing is off: set MARKETPLACE_ENCRYPT_PERSONAL_DATA=true first")
    if settings.events.store != "postgres":
        raise CannotSeal("only a PostgreSQL event store keeps events that can be sealed later")
    key = checkpoint_book(settings).key
    assert key is not None
    done_at = (now or datetime.now(UTC)).isoformat()
    wanted = None if persons is None else list(persons)
    commands = Commands(
        eventsourcing_env(settings, stores(settings).postgres_url),
        split_logs=settings.events.split_logs,
    )
    rewrites: list[Rewrite] = []
    seen: set[str] = set()
    try:
        for application in commands.applications:
            recorder, mapper = application.recorder, application.mapper
            if not isinstance(recorder, ArrayInsertPostgresRecorder):
                continue
            if not isinstance(mapper, PersonalDataMapper) or recorder.events_table_name in seen:
                continue
            seen.add(recorder.events_table_name)
            log = LegacyLog(
                application.log_name,
                recorder.datastore.get_connection,
                recorder.datastore.schema,
                recorder.events_table_name,
                mapper,
            )
            rewrites += seal_legacy(log, lambda r: r.signed(key), reason, done_at, wanted)
    finally:
        commands.close()
    return rewrites
