"""What a request that is gone did: the aggregates its events changed, found in the logs.

Every event carries the request id and the actor of the command that caused it (its audit
metadata), so a request cut off before it could answer can be answered later from the logs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from uuid import UUID

from commands.base import ContextApplication
from commands.write_path import Outcome

PAGE = 500


def committed(
    applications: Iterable[ContextApplication],
    request_ids: Collection[str],
    actor: str,
    since: Mapping[str, int],
) -> list[Outcome]:
    """One outcome for each aggregate that events of the requests (by actor) changed, in the
    applications' order, reading each log after its position in since (else from its start).
    """
    found: dict[UUID, Outcome] = {}
    searched: set[str] = set()
    for application in applications:
        if application.log_name in searched:
            continue
        searched.add(application.log_name)
        for outcome in _in_log(application, request_ids, actor, since.get(application.log_name)):
            found[outcome.aggregate_id] = outcome
    return list(found.values())


def _in_log(
    application: ContextApplication,
    request_ids: Collection[str],
    actor: str,
    after: int | None,
) -> Iterable[Outcome]:
    start = (after or 0) + 1
    while True:
        page = application.recorder.select_notifications(start, PAGE)
        for notification in page:
            event = application.mapper.to_domain_event(notification)
            meta = getattr(event, "meta", {})
            if meta.get("request_id") in request_ids and meta.get("actor") == actor:
                yield Outcome(
                    event.originator_id,
                    event.originator_version,
                    application.log_name,
                    notification.id,
                )
        if len(page) < PAGE:
            return
        start = page[-1].id + 1
