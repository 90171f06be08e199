"""`marketplace personal`: upkeep of the personal data sealed in the event logs."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from marketplace.cli.app import Json, command_group, configured, done

personal = command_group(
    "personal",
    "Upkeep of personal data in the event logs (sealed per person, erased by key).",
)


@personal.command("seal-legacy")
def seal_legacy(
    reason: Annotated[
        str, typer.Option(help="why the rows are rewritten, signed into the audit record")
    ] = "personal data sealed after the fact (stored before sealing was on)",
    person: Annotated[
        list[str] | None, typer.Option(help="only this person's data (repeatable)")
    ] = None,
    as_json: Json = False,
) -> None:
    """Seal the personal data that events stored in plain text (written while
    MARKETPLACE_ENCRYPT_PERSONAL_DATA was off, or before sealing shipped), so that erasing
    a person's key erases it too; a person already erased gets the placeholder.

    Each stream is rewritten in one transaction; the log's hash chain is recomputed and a
    signed rewrite record (MARKETPLACE_AUDIT_SIGNING_KEY) names the positions and the
    reason, which `marketplace audit verify` reports. Run it once after turning sealing on,
    and after erasing a person registered before. Example: marketplace personal seal-legacy
    """
    from infra.audit.checkpoints import DevelopmentKey
    from marketplace.personal import CannotSeal, seal_legacy_logs

    try:
        rewrites = seal_legacy_logs(configured(), reason, person)
    except (CannotSeal, DevelopmentKey) as error:
        print(f"marketplace personal: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    rows = [
        {"log": r.log, "rewrite": r.number, "positions": list(r.positions), "head": r.head}
        for r in rewrites
    ]
    if as_json:
        print(json.dumps({"rewrites": rows}))
    else:
        for row in rows:
            print(f"{row['log']:<12} rewrite {row['rewrite']:>5}: positions {row['positions']}")
        print(f"{sum(len(r.positions) for r in rewrites)} events sealed in {len(rows)} streams")
    done(0)
