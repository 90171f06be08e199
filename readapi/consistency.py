"""Read-your-writes: wait, within a bound, until a view reaches the positions a client wrote at."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from infra.web import Problem
from readapi.deps import Followed, ReadApiDeps

POSITION = r"[A-Za-z0-9_.-]{1,64}:[0-9]{1,18}"
MIN_POSITION = re.compile(f"^ *{POSITION} *(?:, *{POSITION} *)*$")
MAX_WAIT_MS = re.compile(r"^[0-9]{1,9}$")
FIRST_POLL_SECONDS = 0.002
LAST_POLL_SECONDS = 0.05
log = structlog.get_logger()


def positions_pattern(logs: Iterable[str]) -> str:
    """The X-Min-Position values that name only these logs."""
    part = f"(?:{'|'.join(re.escape(name) for name in sorted(logs))}):[0-9]{{1,18}}"
    return f"^ *{part} *(?:, *{part} *)*$"


def parameters(*views: str) -> list[dict[str, Any]]:
    """The read-your-writes headers of a route that reads these views (ReadApiDeps fields).

    `x-views` is resolved by readapi.openapi.name_followed_logs into the pattern of the
    logs those views follow, which only the app's dependencies know.
    """
    return [
        {
            "name": "X-Min-Position",
            "in": "header",
            "required": False,
            "description": "Answer from a view that has reached these positions: the command "
            "API's `X-Log-Position` values, `<log>:<position>`, comma-separated, naming only "
            "logs that the route's views follow.",
            "schema": {"type": "string", "examples": ["catalog:17,inventory:42"]},
            "x-views": list(views),
        },
        {
            "name": "X-Max-Wait-Ms",
            "in": "header",
            "required": False,
            "description": "Wait at most this long for `X-Min-Position` (capped by the server "
            "bound); a value that is not a whole number of milliseconds is a 422.",
            "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
        },
    ]


HEADERS_DOC: dict[str, Any] = {
    "X-Consistency": {
        "description": "Only with `X-Min-Position`: `fresh` if the view reached it, "
        "`stale` if the wait bound passed first.",
        "schema": {"type": "string", "enum": ["fresh", "stale"]},
    },
    "X-View-Position": {
        "description": "Only with `X-Min-Position`: the positions the view had reached, "
        "in the same `<log>:<position>` format.",
        "schema": {"type": "string"},
    },
}


@dataclass(frozen=True)
class Consistency:
    """How an answer relates to what the client asked to see: fresh, stale, or not asked."""

    fresh: bool | None = None
    view: Mapping[str, int] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        """X-Consistency and X-View-Position, when the client sent X-Min-Position."""
        if self.fresh is None:
            return {}
        return {
            "X-Consistency": "fresh" if self.fresh else "stale",
            "X-View-Position": format_positions(self.view),
        }


def parse_positions(header: str) -> dict[str, int]:
    """The highest position asked for in each log; a 422 problem if malformed."""
    if not MIN_POSITION.match(header):
        raise Problem(
            422,
            "bad-min-position",
            "Malformed X-Min-Position",
            "use <log>:<position>, comma-separated, as in X-Log-Position: inventory:42",
        )
    wanted: dict[str, int] = {}
    for part in header.split(","):
        name, _, at = part.strip(" ").partition(":")
        wanted[name] = max(int(at), wanted.get(name, 0))
    return wanted


def format_positions(positions: Mapping[str, int]) -> str:
    """Positions as `<log>:<position>`, comma-separated, in log order."""
    return ",".join(f"{name}:{position}" for name, position in sorted(positions.items()))


def reached(seen: Mapping[str, int], wanted: Mapping[str, int]) -> bool:
    """Whether every wanted log is at or past its wanted position."""
    return all(seen.get(name, 0) >= position for name, position in wanted.items())


async def wait_for_positions(
    positions: Callable[[], dict[str, int]], wanted: Mapping[str, int], timeout: float
) -> tuple[bool, dict[str, int]]:
    """Poll positions (off the event loop) with backoff until wanted is reached or timeout.

    The waiting holds no thread, and several
    logs and the positions last seen are handled. Checks at least once, even for timeout 0.
    """
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL_SECONDS
    while True:
        seen = await run_in_threadpool(positions)
        if reached(seen, wanted):
            return True, seen
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, seen
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, LAST_POLL_SECONDS)


def max_wait(header: str | None, bound: float) -> float:
    """The seconds to wait: the client's X-Max-Wait-Ms capped by the bound; 422 if malformed."""
    if header is None:
        return bound
    if not MAX_WAIT_MS.match(header.strip(" ")):
        raise Problem(
            422, "bad-max-wait", "Malformed X-Max-Wait-Ms", "use a whole number of milliseconds"
        )
    return min(int(header) / 1000, bound)


async def consistency_for(request: Request, followed: Followed[Any]) -> Consistency:
    """Wait until the view reaches the request's X-Min-Position, if any, within the bound.

    Headers are read here rather than declared as parameters: FastAPI's per-request
    parameter handling was a quarter of this endpoint's profile. parameters() documents them.
    """
    return await consistency_across(request, followed)


async def consistency_across(request: Request, *views: Followed[Any]) -> Consistency:
    """Wait until each view reaches its share of X-Min-Position, all within one bound.

    Each view waits for the logs it follows; a log several views follow (the single shared
    log) is waited for in each, and X-View-Position reports the least any of them reached.
    """
    deps: ReadApiDeps = request.app.state.deps
    timeout = max_wait(request.headers.get("x-max-wait-ms"), deps.max_wait_seconds)
    header = request.headers.get("x-min-position")
    if header is None:
        return Consistency()
    wanted = parse_positions(header)
    followed = dict.fromkeys(log for view in views for log in view.logs)
    unknown = sorted(set(wanted) - set(followed))
    if unknown:
        names = " and ".join(view.name for view in views)
        raise Problem(
            422,
            "unknown-log",
            "Log not followed",
            f"{names} follow{'s' if len(views) == 1 else ''} {', '.join(followed)}, "
            f"not {', '.join(unknown)}",
        )
    deadline = time.monotonic() + timeout
    fresh = True
    least: dict[str, int] = {}
    for view in views:
        share = {log: position for log, position in wanted.items() if log in view.logs}
        remaining = max(deadline - time.monotonic(), 0.0)
        reached_share, seen = await wait_for_positions(view.view.positions, share, remaining)
        if not reached_share:
            fresh = False
            log.info("read_stale", view=view.name, wanted=share, seen=seen, waited=timeout)
        for name in view.logs:
            least[name] = min(seen.get(name, 0), least.get(name, seen.get(name, 0)))
    return Consistency(fresh, least)
