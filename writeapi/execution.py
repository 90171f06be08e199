"""Runs one command for a route: idempotency, audit context, and the response headers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from commands.base import Outcome
from commands.recovery import committed
from commands.services import Commands
from domain.base import Context
from infra.auth import Principal
from infra.idempotency import Claim, IdempotencyStore, Orphan, StoredResponse
from writeapi.problems import (
    Problem,
    detail_for,
    problem_for,
    problem_response,
    store_unavailable,
)

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
IF_MATCH = re.compile(r'^"(\d{1,18})"$')
REPLAYED_HEADERS = ("etag", "location", "x-log-position")
log = structlog.get_logger()


@dataclass
class Reply:
    """What a command route answers: status, body, and the outcome for ETag and position."""

    outcome: Outcome
    status: int = 200
    location: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields the route adds to the body beside id, version, log and position."""
    id_name: str = "id"
    """What the aggregate's id is called in the body, when it is not the resource's own."""


def expected_version(request: Request) -> int | None:
    """The version named by If-Match, or None when the header is absent or '*'.

    A value that is no strong ETag of ours matches no version: 412, as RFC 9110 evaluates
    an If-Match that names no current tag.
    """
    value = request.headers.get("if-match")
    if value is None or value.strip() == "*":
        return None
    value = value.strip()
    if value.startswith("W/") and IF_MATCH.match(value[2:]):
        raise Problem(412, "stale-version", "Precondition failed", "a weak ETag never matches")
    match = IF_MATCH.match(value)
    if match is None:
        raise Problem(
            412,
            "bad-if-match",
            "Precondition failed",
            'If-Match names no version like "3", so it never matches',
        )
    return int(match.group(1))


def render(reply: Reply, read_api_url: str) -> Response:
    """The JSON response for a reply, with ETag, Location and X-Log-Position headers.

    A Location names a resource of the query API, so it is absolute, under read_api_url.
    """
    outcome = reply.outcome
    body = {
        reply.id_name: str(outcome.aggregate_id),
        "version": outcome.version,
        "log": outcome.log,
        "position": outcome.position,
        **reply.extra,
    }
    headers = {"ETag": f'"{outcome.version}"'}
    if outcome.position is not None:
        headers["X-Log-Position"] = f"{outcome.log}:{outcome.position}"
    if reply.location:
        headers["Location"] = read_api_url.rstrip("/") + reply.location
    return Response(orjson.dumps(body), reply.status, headers, media_type="application/json")


@dataclass(eq=False)
class Call:
    """One authorised command call: runs its command once per Idempotency-Key and answers.

    A command that fails unexpectedly frees its key for a retry. One cut off by a store that
    did not answer (a 503) leaves its key pending, and a retry takes it over once the event
    store has settled the cut-off append (infra.idempotency): it answers from the events the
    earlier request committed, through the route's answer, or runs the command anew if it
    committed none. A repeatable command (one that finds what an earlier run did, like a
    checkout whose order id derives from the key) is simply run again.
    """

    request: Request
    principal: Principal
    commands: Commands
    idempotency: IdempotencyStore
    read_api_url: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def expected_version(self) -> int | None:
        """The version the client's If-Match names, if any."""
        return expected_version(self.request)

    def required_idempotency_key(self) -> str:
        """The Idempotency-Key header, for routes that need one; a 400 problem if it is absent."""
        key = self.request.headers.get("idempotency-key")
        if key is None:
            raise Problem(
                400,
                "idempotency-key-required",
                "Idempotency-Key required",
                "this request must carry an Idempotency-Key header so that a retry is safe",
            )
        return key

    def context(self) -> Context:
        """The audit context of this request, at the time by the API's clock."""
        state = self.request.state
        return Context(
            at=self.clock(),
            actor=str(self.principal.sub),
            role=self.principal.role,
            request_id=state.request_id,
            correlation_id=state.correlation_id,
            causation_id=state.request_id,
        )

    def run(
        self,
        body: BaseModel | None,
        command: Callable[[Context], Reply],
        answer: Callable[[Outcome], Reply] = Reply,
        *,
        repeatable: bool = False,
    ) -> Response:
        """Run the command, or answer from the first run of the same Idempotency-Key.

        answer builds the reply from an outcome found in the logs, when an earlier request
        with the key committed its change but never answered: the command's own reply.
        """
        response = self._run(body, command, answer, repeatable)
        log.info(
            "command",
            method=self.request.method,
            path=self.request.url.path,
            status=response.status_code,
            actor=str(self.principal.sub),
            role=self.principal.role,
            position=response.headers.get("x-log-position"),
        )
        return response

    def update(
        self, body: BaseModel | None, command: Callable[[Context, int | None], Outcome]
    ) -> Response:
        """Run a command that changes an aggregate at the version If-Match names (any version
        without one); a 200."""
        version = self.expected_version()
        return self.run(body, lambda ctx: Reply(command(ctx, version)))

    def create(
        self, body: BaseModel | None, command: Callable[[Context], Outcome], under: str = ""
    ) -> Response:
        """Run a command that creates a resource: a 201, located at `under/<id>` if under is
        given (a path of the query API)."""

        def created(outcome: Outcome) -> Reply:
            return Reply(outcome, 201, f"{under}/{outcome.aggregate_id}" if under else None)

        return self.run(body, lambda ctx: created(command(ctx)), created)

    def _run(
        self,
        body: BaseModel | None,
        command: Callable[[Context], Reply],
        answer: Callable[[Outcome], Reply],
        repeatable: bool,
    ) -> Response:
        key = self.request.headers.get("idempotency-key")
        if key is None:
            return render(command(self.context()), self.read_api_url)
        if not IDEMPOTENCY_KEY.match(key):
            raise Problem(
                422,
                "bad-idempotency-key",
                "Invalid Idempotency-Key",
                "use 1 to 255 visible ASCII characters",
            )
        store = self.idempotency
        fingerprint = request_fingerprint(
            self.request.method,
            self.request.url.path,
            self.request.headers.get("if-match", ""),
            body,
        )
        claim = store.claim(
            str(self.principal.sub), key, fingerprint, self.request.state.request_id
        )
        if claim.lease is None:
            return refusal_or_replay(claim)
        try:
            if claim.orphan is not None and not repeatable:
                response = self._recovered(claim.orphan, answer) or self._execute(command)
            else:
                response = self._execute(command)
        except Exception as error:
            if store_unavailable(error):
                store.release(claim.lease)
            else:
                store.abandon(claim.lease)
            raise
        kept = {k: v for k, v in response.headers.items() if k in REPLAYED_HEADERS}
        kept["content-type"] = response.media_type or "application/json"
        store.complete(
            claim.lease, StoredResponse(response.status_code, kept, bytes(response.body))
        )
        return response

    def _execute(self, command: Callable[[Context], Reply]) -> Response:
        """The command's response, a known error's problem included (which a key keeps)."""
        try:
            return render(command(self.context()), self.read_api_url)
        except Exception as error:
            known = problem_for(error)
            if known is None:
                raise
            status, slug, title = known
            return problem_response(self.request, status, slug, title, detail_for(error))

    def _recovered(self, orphan: Orphan, answer: Callable[[Outcome], Reply]) -> Response | None:
        """The answer to what the key's earlier requests committed, if they committed it."""
        applications = self.commands.applications
        found = committed(applications, orphan.request_ids, str(self.principal.sub), orphan.heads)
        if not found:
            return None
        response = render(answer(found[0]), self.read_api_url)
        response.headers["Idempotent-Replayed"] = "true"
        return response


def refusal_or_replay(claim: Claim) -> Response:
    """The answer to a claim that does not go ahead: a replay, or a problem."""
    if claim.verdict == "mismatch":
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this key was used with a different request",
        )
    if claim.verdict == "replay" and claim.response is not None:
        stored = claim.response
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        media = headers.pop("content-type", "application/json")
        return Response(stored.body, stored.status, headers, media_type=media)
    raise Problem(
        409,
        "idempotency-in-progress",
        "Request in progress",
        "a request with this key is still being processed",
        {"Retry-After": "1"},
    )


def request_fingerprint(method: str, path: str, if_match: str, body: BaseModel | None) -> str:
    """What makes two requests with one Idempotency-Key the same request."""
    digest = hashlib.sha256()
    for part in (method, path, if_match, body.model_dump_json() if body else ""):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()
