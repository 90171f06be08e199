"""What `marketplace deadletters` does: retry or skip a failure a projection recorded.

A parked event waits in the dead letters until it is retried (after a fix, it is applied
through its projection, out of order) or skipped. A stop is retried by its projection on each
start, or here at once; skipped, the projection passes over the event when it next meets it.
Each retry and skip is kept with who did it and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from infra.settings import Settings
from infra.stores import stores
from marketplace.registry import follower
from projections.failures import Kind, State, describe
from projections.runtime import PositionMoved
from projections.stores.postgres.deadletters import DeadLetter, PostgresDeadLetters, dead_letters_at

OPEN = (State.STOPPED, State.PARKED)
"""The states of a failure still waiting for a fix."""
MOVED_ATTEMPTS = 5
"""Retries of a retry whose view moved under it (its live projector committed meanwhile)."""


class DeadLetterRefused(Exception):
    """The dead letter is missing, closed already, or cannot be retried or skipped that way."""


class RetryFailed(Exception):
    """The event failed again; the dead letter counts the attempt and keeps the error."""


@contextmanager
def dead_letters(settings: Settings) -> Iterator[PostgresDeadLetters]:
    """The dead letters on the configured PostgreSQL; closed on exit."""
    timeout = settings.postgres.connect_timeout_seconds
    with dead_letters_at(stores(settings).postgres_url, timeout) as book:
        yield book


def open_letter(book: PostgresDeadLetters, id: int) -> DeadLetter:
    """The dead letter with that id, if it is still open; else DeadLetterRefused."""
    letter = book.letter(id)
    if letter is None:
        raise DeadLetterRefused(f"no dead letter {id}")
    if letter.state not in OPEN:
        raise DeadLetterRefused(f"dead letter {id} is {letter.state} already")
    return letter


def retry(settings: Settings, id: int, actor: str) -> DeadLetter:
    """Apply the dead letter's event through its projection again; the letter, now retried.

    A stopped projection's view gets every event up to it, and its position moves there; a
    parked event is applied alone. RetryFailed if the event fails again.
    """
    with dead_letters(settings) as book:
        letter = open_letter(book, id)
        if not letter.stream:
            raise DeadLetterRefused(
                f"dead letter {id} is a stop outside any event: fix it, then restart "
                f"{letter.projection}, which retries on start"
            )
        opens = follower(letter.projection).worker
        if opens is None:
            raise DeadLetterRefused(f"{letter.projection} cannot be opened here")
        with opens(settings) as worker:
            for attempt in range(1, MOVED_ATTEMPTS + 1):
                try:
                    worker.reapply(letter.log, letter.position)
                    break
                except PositionMoved:
                    if attempt == MOVED_ATTEMPTS:
                        raise
                except Exception as error:
                    book.failed_again(id, describe(error))
                    raise RetryFailed(describe(error)) from error
        book.resolve(id, State.RETRIED, actor, "retried")
        return book.letter(id) or letter


def skip(settings: Settings, id: int, actor: str, reason: str) -> DeadLetter:
    """Record that the dead letter's event is skipped, by whom and why; the letter.

    A parked event stays unapplied; a projection stopped at the event passes over it when it
    next meets it (on its next start). A bug is fixed, not skipped: DeadLetterRefused.
    """
    with dead_letters(settings) as book:
        letter = open_letter(book, id)
        if letter.kind == Kind.BUG:
            raise DeadLetterRefused(
                f"dead letter {id} is a bug, not an event to skip: fix it, then restart "
                f"{letter.projection}"
            )
        book.resolve(id, State.SKIPPED, actor, reason)
        return book.letter(id) or letter
