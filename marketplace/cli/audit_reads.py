"""`marketplace audit stream|log|trace|state|export`: the audit API's reads from the command
line, each one recorded with whose data it showed (auditapi.owners).

Readable tables by default, `--json` for machines; `export` writes newline-delimited JSON
with a progress bar on stderr.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import orjson
import typer

from marketplace.cli.app import Json, configured
from marketplace.cli.audit import audit

if TYPE_CHECKING:
    from auditapi.reader import LogQuery

After = Annotated[int, typer.Option(min=0, help="events after this position")]
UntilPosition = Annotated[int | None, typer.Option(min=1, help="up to this position")]
EventType = Annotated[
    str | None, typer.Option("--type", help="only this event type, e.g. Order.Placed")
]
Actor = Annotated[str | None, typer.Option(help="only events this actor caused")]
Since = Annotated[datetime | None, typer.Option(help="from this time (ISO 8601, with offset)")]
Until = Annotated[datetime | None, typer.Option(help="before this time (ISO 8601, with offset)")]
Stream = Annotated[UUID | None, typer.Option("--stream", help="only this aggregate's events")]
COLUMNS = ("position", "version", "type", "timestamp", "actor", "stream_id")


def emit(document: Any) -> None:
    """Print a document as indented JSON."""
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def table(events: list[dict[str, Any]]) -> None:
    """Print events as aligned columns."""
    rows = [COLUMNS] + [
        (
            str(e["position"]),
            str(e["version"]),
            e["type"],
            e["timestamp"] or "",
            e["metadata"]["actor"] or "",
            e["stream_id"],
        )
        for e in events
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def query(
    after: int,
    until_position: int | None,
    event_type: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    stream: UUID | None,
) -> LogQuery:
    """The filters, refused (exit 2) if a time has no offset or a range is reversed."""
    from auditapi.reader import LogQuery

    for name, value in (("--since", since), ("--until", until)):
        if value is not None and value.utcoffset() is None:
            raise typer.BadParameter(f"{name} needs a UTC offset, e.g. 2026-01-31T12:00:00+00:00")
    if since is not None and until is not None and until <= since:
        raise typer.BadParameter("--until must be later than --since")
    if until_position is not None and until_position <= after:
        raise typer.BadParameter("--until-position must be greater than --after")
    return LogQuery(after, until_position, event_type, actor, since, until, stream)


@audit.command()
def stream(stream_id: UUID, as_json: Json = False) -> None:
    """Every event of one aggregate, in any context, by version.

    Example: marketplace audit stream 0b1c...-... --json
    """
    from auditapi.owners import owners
    from auditapi.queries import documents, whole_stream
    from marketplace.audit import audit_session, operator_access

    with audit_session(configured()) as (reader, access):
        read = access.record(operator_access("stream", str(stream_id)))
        events = documents(reader, list(whole_stream(reader, stream_id)))
        access.add_subjects(read, owners(reader, events))
    if not events:
        raise typer.BadParameter(f"no stream {stream_id}")
    emit(events) if as_json else table(events)


@audit.command("log")
def log_(
    name: str,
    after: After = 0,
    until_position: UntilPosition = None,
    event_type: EventType = None,
    actor: Actor = None,
    since: Since = None,
    until: Until = None,
    stream: Stream = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="events at most")] = 100,
    as_json: Json = False,
) -> None:
    """One context's log, by position, filtered; the next page starts after the last shown.

    Example: marketplace audit log orders --type Order.Placed --since 2026-03-01T00:00:00Z
    """
    from auditapi.owners import owners
    from auditapi.queries import documents
    from marketplace.audit import audit_session, operator_access

    filters = query(after, until_position, event_type, actor, since, until, stream)
    with audit_session(configured()) as (reader, access):
        if name not in reader.logs:
            raise typer.BadParameter(f"no log {name!r}; known: {', '.join(reader.logs)}")
        read = access.record(operator_access("log", name, **vars(filters)))
        events = documents(reader, reader.log(name, filters, limit))
        access.add_subjects(read, owners(reader, events))
    emit(events) if as_json else table(events)


@audit.command()
def trace(correlation_id: str, as_json: Json = False) -> None:
    """Every event of one correlation id across all contexts, with its causation tree.

    Example: marketplace audit trace checkout-7f3a
    """
    from auditapi.owners import owners
    from auditapi.queries import causation_tree, trace_pages
    from marketplace.audit import audit_session, operator_access

    with audit_session(configured()) as (reader, access):
        read = access.record(operator_access("trace", correlation_id))
        events = [event for page in trace_pages(reader, correlation_id) for event in page]
        access.add_subjects(read, owners(reader, events))
    if not events:
        raise typer.BadParameter(f"no events with correlation id {correlation_id!r}")
    tree = causation_tree(events)
    if as_json:
        emit({"correlation_id": correlation_id, "events": events, "tree": tree})
        return
    stack = [(node, 0) for node in reversed(tree)]
    while stack:
        node, depth = stack.pop()
        print(f"{'  ' * depth}{node['type']}  {node['stream_id']}  (caused by {node['caused_by']})")
        stack.extend((child, depth + 1) for child in reversed(node["caused"]))


@audit.command()
def state(
    stream_id: UUID,
    version: Annotated[int | None, typer.Option(min=0, help="as of this version")] = None,
    at: Annotated[
        datetime | None, typer.Option(help="as of this time (ISO 8601, with offset)")
    ] = None,
    as_json: Json = False,
) -> None:
    """The aggregate as of a version or a time, replayed from its events.

    Example: marketplace audit state 0b1c...-... --version 2
    """
    from auditapi.owners import stream_owners
    from auditapi.queries import UnknownStream, state_at
    from marketplace.audit import audit_session, operator_access

    if (version is None) == (at is None):
        raise typer.BadParameter("give exactly one of --version and --at")
    if at is not None and at.utcoffset() is None:
        raise typer.BadParameter("--at needs a UTC offset")
    with audit_session(configured()) as (reader, access):
        read = access.record(operator_access("state", str(stream_id), version=version, at=at))
        try:
            found = state_at(reader, stream_id, version=version, at=at)
        except UnknownStream:
            raise typer.BadParameter(f"no stream {stream_id}") from None
        access.add_subjects(read, stream_owners(reader, stream_id))
    if found is None or (version is not None and found.version != version):
        raise typer.BadParameter(f"{stream_id} has no state at {version if at is None else at}")
    document = {
        "aggregate": found.aggregate,
        "version": found.version,
        "timestamp": found.timestamp.isoformat(),
        "state": found.state,
    }
    if as_json:
        emit(document)
        return
    print(f"{found.aggregate} {stream_id} at version {found.version} ({document['timestamp']})")
    for key, value in sorted(found.state.items()):
        print(f"  {key}: {orjson.dumps(value).decode()}")


@audit.command()
def export(
    name: str,
    output: Annotated[
        typer.FileBinaryWrite, typer.Option("--output", "-o", help="file (default: stdout)")
    ] = "-",  # type: ignore[assignment]
    after: After = 0,
    until_position: UntilPosition = None,
    event_type: EventType = None,
    actor: Actor = None,
    since: Since = None,
    until: Until = None,
    stream: Stream = None,
) -> None:
    """A log's events as newline-delimited JSON, a page at a time, with progress on stderr.

    Example: marketplace audit export orders -o orders.ndjson
    """
    from auditapi.owners import owners
    from auditapi.queries import documents
    from auditapi.routers.logs import pages
    from marketplace.audit import audit_session, operator_access
    from marketplace.progress import ProgressBar

    filters = query(after, until_position, event_type, actor, since, until, stream)
    with audit_session(configured()) as (reader, access):
        if name not in reader.logs:
            raise typer.BadParameter(f"no log {name!r}; known: {', '.join(reader.logs)}")
        read = access.record(operator_access("export", name, **vars(filters)))
        head = until_position or reader.head(name)
        bar = ProgressBar(f"export {name}", max(head - after, 0), sys.stderr, unit="positions")
        for page in pages(reader, name, filters):
            shown = documents(reader, page)
            access.add_subjects(read, owners(reader, shown))
            for document in shown:
                output.write(orjson.dumps(document) + b"\n")
            bar.update(page[-1].position - after)
        bar.update(max(head - after, 0))
        bar.close()
