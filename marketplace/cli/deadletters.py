"""`marketplace deadletters`: the events projections parked or stopped at, and what to do next."""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from marketplace.cli.app import command_group, configured

if TYPE_CHECKING:
    from projections.stores.postgres.deadletters import DeadLetter

deadletters = command_group(
    "deadletters",
    "The events projections and workers parked or stopped at: list, show, retry, skip.",
)

LetterId = Annotated[int, typer.Argument(min=1, help="the dead letter's id (see `list`)")]
Actor = Annotated[
    str | None, typer.Option(help="who does it, kept with the letter (default: the OS user)")
]
ERROR_WIDTH = 60


@deadletters.command("list")
def list_letters(
    projection: Annotated[
        str | None, typer.Option(help="only this projection's (default: every one)")
    ] = None,
    all_states: Annotated[
        bool, typer.Option("--all", help="also those retried or skipped (default: open only)")
    ] = False,
) -> None:
    """List the dead letters still open (stopped or parked), oldest first.

    Example: marketplace deadletters list --projection catalog-search
    """
    from marketplace.deadletters import OPEN, dead_letters

    with dead_letters(configured()) as book:
        letters = book.letters(projection, () if all_states else OPEN)
    header = ("id", "projection", "log", "position", "state", "kind", "attempts", "error")
    rows = [header] + [
        (
            str(letter.id),
            letter.projection,
            letter.log or "-",
            str(letter.position),
            letter.state,
            letter.kind,
            str(letter.attempts),
            shorten(letter.error),
        )
        for letter in letters
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def shorten(text: str, width: int = ERROR_WIDTH) -> str:
    """text cut to width characters, with an ellipsis if cut."""
    return text if len(text) <= width else f"{text[: width - 3]}..."


@deadletters.command()
def show(id: LetterId) -> None:
    """Print every field of one dead letter, its whole error included.

    Example: marketplace deadletters show 7
    """
    from marketplace.deadletters import dead_letters

    with dead_letters(configured()) as book:
        letter = book.letter(id)
    if letter is None:
        refuse(f"no dead letter {id}")
    print(details(letter))


def details(letter: DeadLetter) -> str:
    """The letter as "field: value" lines."""
    fields = vars(letter)
    width = max(len(name) for name in fields)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in fields.items())


@deadletters.command()
def retry(id: LetterId, actor: Actor = None) -> None:
    """Apply a dead letter's event through its projection again, after a fix.

    A parked event is applied alone; a stopped projection's view is brought up to the event.
    If it fails again, the attempt and its error are kept and the exit code is 1.

    Example: marketplace deadletters retry 7
    """
    from marketplace.deadletters import DeadLetterRefused, RetryFailed
    from marketplace.deadletters import retry as retry_letter

    try:
        letter = retry_letter(configured(), id, actor or getpass.getuser())
    except (DeadLetterRefused, RetryFailed) as error:
        refuse(str(error))
    print(f"dead letter {id}: {letter.state} by {letter.resolved_by}")


@deadletters.command()
def skip(
    id: LetterId,
    reason: Annotated[str, typer.Option(help="why it is skipped, kept with the letter")],
    actor: Actor = None,
) -> None:
    """Skip a dead letter's event for good, recording who skipped it and why.

    A projection stopped at the event passes over it on its next start.

    Example: marketplace deadletters skip 7 --reason "test order, topic removed in 2.3"
    """
    from marketplace.deadletters import DeadLetterRefused
    from marketplace.deadletters import skip as skip_letter

    try:
        letter = skip_letter(configured(), id, actor or getpass.getuser(), reason)
    except DeadLetterRefused as error:
        refuse(str(error))
    print(f"dead letter {id}: {letter.state} by {letter.resolved_by}: {letter.reason}")


def refuse(message: str) -> NoReturn:
    """Print why on stderr and exit with 1."""
    print(f"marketplace deadletters: {message}", file=sys.stderr)
    raise typer.Exit(1)
