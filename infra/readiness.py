"""Readiness: every dependency checked at once, answered within a bound, naming what is down."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response

from infra.web import problem_response

log = structlog.get_logger()
NO_ANSWER = object()


@dataclass(frozen=True)
class Probe:
    """One readiness check: its name, the store it needs, and the (blocking) call."""

    name: str
    store: str
    check: Callable[[], Any]


async def probe_all(
    probes: Sequence[Probe], within: float
) -> tuple[dict[str, Any], dict[str, str]]:
    """Run every probe at once, each in a thread, for within seconds at most.

    Returns the answers of the probes that answered (by name), and, for each store one of
    whose probes failed or did not answer in time, why. A probe still running at the bound
    is left to finish in its thread (its store calls are bounded themselves).
    """
    answers: list[Any] = [NO_ANSWER] * len(probes)
    errors: dict[int, BaseException] = {}

    async def run(index: int, check: Callable[[], Any]) -> None:
        try:
            answers[index] = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
        except Exception as error:
            errors[index] = error

    with anyio.move_on_after(within):
        async with anyio.create_task_group() as group:
            for index, probe in enumerate(probes):
                group.start_soon(run, index, probe.check)
    down: dict[str, str] = {}
    for index, probe in enumerate(probes):
        if index in errors:
            down.setdefault(probe.store, f"{probe.name}: {type(errors[index]).__name__}")
        elif answers[index] is NO_ANSWER:
            down.setdefault(probe.store, f"{probe.name}: no answer within {within:g} s")
    answered = {p.name: a for p, a in zip(probes, answers, strict=True) if a is not NO_ANSWER}
    return answered, down


def readiness_response(
    request: Request, down: dict[str, str], body: dict[str, Any], retry_after: int
) -> Response:
    """200 with body when nothing is down; else a 503 problem naming each store that is."""
    if not down:
        return Response(orjson.dumps({"status": "ready", **body}), media_type="application/json")
    log.warning("not_ready", down=down)
    return problem_response(
        request,
        503,
        "store-unavailable",
        "Not ready",
        f"not answering: {', '.join(sorted(down))}",
        headers={"Retry-After": str(retry_after)},
        down=down,
    )
