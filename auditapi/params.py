"""Query parameters the audit routes share, bounded, and the refusals of bad ones."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from infra.openapi import UNAUTHENTICATED, VALIDATION, problem
from infra.web import Problem

MAX_PAGE = 1000
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Events per page (at most 1000).")]
After = Annotated[
    int, Query(ge=0, le=2**62, description="Answer events after this position (0: from the start).")
]
Time = Annotated[datetime | None, Query(description="An ISO 8601 time with its UTC offset.")]
FORBIDDEN = problem("The caller's role is neither auditor nor admin")
NOT_FOUND = problem("No such stream, log or flow")
ANSWERS: dict[int | str, dict[str, Any]] = {
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    422: VALIDATION,
}


def refuse(detail: str) -> Problem:
    """The 422 problem of a query that is well formed but makes no sense."""
    return Problem(422, "invalid-query", "Invalid query", detail)


def aware(name: str, value: datetime | None) -> datetime | None:
    """value, refused unless it names its UTC offset (a local time means nothing here)."""
    if value is not None and value.utcoffset() is None:
        raise refuse(f"{name} must carry a UTC offset, e.g. 2026-01-31T12:00:00Z")
    return value


def time_range(since: datetime | None, until: datetime | None) -> None:
    """Refuse a range that ends before it starts."""
    aware("since", since)
    aware("until", until)
    if since is not None and until is not None and until <= since:
        raise refuse("until must be later than since")


def not_found(what: str) -> Problem:
    """The 404 problem naming what is unknown."""
    return Problem(404, "not-found", "Not found", f"no {what}")
