"""`marketplace audit`: what auditors run against the event logs."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import typer

from marketplace.cli.app import Json, app, command_group, configured, done, stop_on_signals

audit = command_group(
    "audit",
    "Inspect the event logs (stream, log, trace, state, export) and prove them untampered.",
)


@audit.command("verify")
def verify(as_json: Json = False) -> None:
    """Recompute each log's hash chain against its signed checkpoints.

    Prints OK per log, or the first position that breaks and how (payload changed, row
    deleted, rows reordered, row inserted, head truncated, chain rewritten); exit code 1 if
    any log broke. Progress goes to stderr. Example: marketplace audit verify --json
    """
    from infra.audit.checkpoints import DevelopmentKey
    from marketplace.audit_chain import verify_logs
    from marketplace.progress import ProgressBar

    bars: dict[str, ProgressBar] = {}

    def progress(log: str, position: int, head: int) -> None:
        bar = bars.setdefault(log, ProgressBar(f"verify {log}", head, sys.stderr, unit="positions"))
        bar.update(position, head)

    from marketplace.audit import audit_session, operator_access

    settings = configured()
    try:
        verdicts = verify_logs(settings, progress)
    except DevelopmentKey as error:
        fail(str(error))
    with audit_session(settings) as (_, access):
        access.record(operator_access("verify", "*"))
    for bar in bars.values():
        bar.close()
    if as_json:
        print(
            json.dumps({"ok": all(v.ok for v in verdicts), "logs": [as_dict(v) for v in verdicts]})
        )
    else:
        for verdict in verdicts:
            print(line(verdict))
    done(0 if all(v.ok for v in verdicts) else 1)


@audit.command("checkpoint")
def checkpoint(as_json: Json = False) -> None:
    """Sign each log's chain head now and store it in the blob store (the checkpoints
    process also does so periodically). Example: marketplace audit checkpoint"""
    from infra.audit.checkpoints import DevelopmentKey
    from marketplace.audit_chain import take_checkpoints

    try:
        written = take_checkpoints(configured())
    except DevelopmentKey as error:
        fail(str(error))
    rows = [{"log": c.log, "position": c.position, "hash": c.hash.hex()} for c in written]
    if as_json:
        print(json.dumps({"checkpoints": rows}))
        return
    for row in rows:
        print(f"{row['log']:<12} {row['position']:>12}  {row['hash']}")
    if not rows:
        print("no log moved since its last checkpoint")


@app.command("audit-checkpoints")
def audit_checkpoints() -> None:
    """Sign each log's chain head into the blob store every MARKETPLACE_AUDIT_CHECKPOINT_SECONDS
    (when it moved) until SIGTERM or SIGINT; the one process that holds the signing key.

    Example: marketplace audit-checkpoints
    """
    from infra.audit.checkpoints import DevelopmentKey
    from marketplace.audit_chain import checkpoint_book, checkpoint_forever

    settings = configured()
    try:
        checkpoint_book(settings)
    except DevelopmentKey as error:
        fail(str(error))
    with stop_on_signals() as stop:
        checkpoint_forever(settings, stop)


def as_dict(verdict: object) -> dict[str, object]:
    """A verdict as JSON."""
    from infra.audit.verify import Verdict

    assert isinstance(verdict, Verdict)
    return {
        "log": verdict.log,
        "ok": verdict.ok,
        "verified": verdict.verified,
        "head": verdict.head,
        "broken": verdict.broken.value if verdict.broken else None,
        "position": verdict.position,
        "detail": verdict.detail,
        "rewritten": list(verdict.rewritten),
        "rewrite_reasons": list(verdict.reasons),
    }


def line(verdict: object) -> str:
    """A verdict as a table row."""
    row = as_dict(verdict)
    if row["ok"]:
        ok = f"{row['log']:<12} OK      {row['verified']:>10} events up to {row['head']}"
        if not row["rewritten"]:
            return ok
        positions = ", ".join(map(str, row["rewritten"]))  # type: ignore[call-overload]
        reasons = "; ".join(row["rewrite_reasons"])  # type: ignore[arg-type]
        return f"{ok}; sanctioned rewrite at {positions} ({reasons})"
    return f"{row['log']:<12} BROKEN  at {row['position']}: {row['broken']} ({row['detail']})"


def fail(message: str) -> NoReturn:
    """End with a usage error: the message on stderr, exit code 2."""
    print(f"marketplace audit: {message}", file=sys.stderr)
    raise typer.Exit(2)
