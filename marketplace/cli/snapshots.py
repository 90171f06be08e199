"""`marketplace snapshots`: snapshots of long streams, taken off the request path."""

from __future__ import annotations

import json

from marketplace.cli.app import Json, command_group, configured

snapshots = command_group(
    "snapshots",
    "Snapshots of the streams that grow without bound (stock items, carts).",
)


@snapshots.command("take")
def take(
    as_json: Json = False,
) -> None:
    """Snapshot every stock item and cart whose latest snapshot is MARKETPLACE_SNAPSHOT_EVERY
    events or more behind its head, as a replay from the store gives it.

    The write path snapshots only streams whose replay is short; run this once after turning
    snapshots on (or raising the interval) so that no request replays a long stream to take
    the first one; running it again is harmless. Example: marketplace snapshots take
    """
    from commands.services import Commands
    from infra.eventstore import eventsourcing_env
    from infra.stores import stores

    settings = configured()
    commands = Commands(
        eventsourcing_env(settings, stores(settings).postgres_url),
        split_logs=settings.events.split_logs,
    )
    try:
        taken = {app.name: app.take_snapshots() for app in commands.applications if app.snapshotted}
    finally:
        commands.close()
    if as_json:
        print(json.dumps({"taken": taken}))
        return
    for name, count in taken.items():
        print(f"{name:<12} {count:>8} snapshots taken")
