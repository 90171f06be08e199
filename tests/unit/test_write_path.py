"""Conflict retries: jittered waits between attempts, a deadline, other errors at once."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest
from eventsourcing.persistence import RecordConflictError

from commands.errors import TooMuchContention
from commands.write_path import retry_conflicts


class Attempts:
    """Conflicts the first `conflicts` calls, then answers with the number of calls."""

    def __init__(self, conflicts: int, error: Exception | None = None) -> None:
        self.conflicts = conflicts
        self.error = error
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.calls <= self.conflicts:
            raise RecordConflictError("another writer won")
        return self.calls


def test_a_first_attempt_without_conflict_is_the_answer() -> None:
    attempts = Attempts(conflicts=0)
    assert retry_conflicts(attempts, 10.0, uuid4()) == 1


def test_conflicts_are_retried_until_an_attempt_succeeds() -> None:
    attempts = Attempts(conflicts=3)
    assert retry_conflicts(attempts, 10.0, uuid4()) == 4


def test_conflicts_past_the_deadline_are_too_much_contention() -> None:
    attempts = Attempts(conflicts=10**9)
    aggregate_id = uuid4()
    started = time.monotonic()
    with pytest.raises(TooMuchContention, match=str(aggregate_id)):
        retry_conflicts(attempts, 0.2, aggregate_id)
    assert 0.2 <= time.monotonic() - started < 2.0
    assert attempts.calls > 2


def test_other_errors_are_not_retried() -> None:
    attempts = Attempts(conflicts=0, error=ValueError("refused"))
    with pytest.raises(ValueError, match="refused"):
        retry_conflicts(attempts, 10.0, uuid4())
    assert attempts.calls == 1
