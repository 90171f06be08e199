"""What the Locust process writes down: every request, and every order it placed.

Plain data, no Locust: the Locust process writes these files and the report reads them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

CSV_HEADER = ("t", "endpoint", "status", "ms", "kind", "cache")


@dataclass(frozen=True)
class RequestRecord:
    """One request: when it started (epoch seconds), what, how it ended, and how long it took.

    kind is empty for an answer below 400; otherwise the status with the problem type
    (`409 sold-out`), or the exception's class for a request that got no answer (status 0).
    cache is the X-Cache-Status a caching proxy added, if any.
    """

    t: float
    endpoint: str
    status: int
    ms: float
    kind: str = ""
    cache: str = ""

    @property
    def connection_error(self) -> bool:
        """Whether no HTTP answer came back at all."""
        return self.status == 0


@dataclass(frozen=True)
class PlacedOrder:
    """An order a checkout placed (202)."""

    order_id: str
    shopper_id: str
    flash_product: str | None
    quantity: int
    at: float


@dataclass
class SwarmOutcome:
    """How the Locust run went: its clock, its user counts over time and its orders."""

    started: float = 0.0
    ended: float = 0.0
    users: list[tuple[float, int]] = field(default_factory=list)
    orders: list[PlacedOrder] = field(default_factory=list)
    flash_opened: float = 0.0
    user_exceptions: dict[str, int] = field(default_factory=dict)
    """Exceptions raised in the shoppers' own code (not HTTP errors), by message."""

    def write(self, path: Path) -> None:
        """Write as JSON."""
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> SwarmOutcome:
        """An outcome written by write()."""
        raw: dict[str, Any] = json.loads(path.read_text())
        return cls(
            started=raw["started"],
            ended=raw["ended"],
            users=[(float(t), int(n)) for t, n in raw["users"]],
            orders=[PlacedOrder(**order) for order in raw["orders"]],
            flash_opened=raw["flash_opened"],
            user_exceptions=dict(raw.get("user_exceptions", {})),
        )


class RequestWriter:
    """Appends request records to a CSV file."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out)
        self._writer.writerow(CSV_HEADER)

    def write(self, record: RequestRecord) -> None:
        """Append one record."""
        self._writer.writerow(
            (
                f"{record.t:.4f}",
                record.endpoint,
                record.status,
                f"{record.ms:.2f}",
                record.kind,
                record.cache,
            )
        )


def read_requests(path: Path) -> Iterator[RequestRecord]:
    """The records of a CSV file written by RequestWriter."""
    with path.open(newline="") as source:
        rows = csv.reader(source)
        next(rows, None)
        for t, endpoint, status, ms, kind, cache in rows:
            yield RequestRecord(float(t), endpoint, int(status), float(ms), kind, cache)


def error_kind(status: int, body: bytes | None, exception: BaseException | None) -> str:
    """How a request failed, for the errors-by-kind table; empty when it did not."""
    if status == 0:
        return type(exception).__name__ if exception is not None else "NoAnswer"
    if status < 400:
        return ""
    slug = ""
    if body:
        try:
            kind = json.loads(body).get("type", "")
        except (ValueError, AttributeError):
            kind = ""
        if isinstance(kind, str) and kind.startswith("urn:marketplace:problem:"):
            slug = kind.rsplit(":", 1)[1]
    return f"{status} {slug}".strip()
