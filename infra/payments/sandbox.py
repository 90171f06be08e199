"""The sandbox card gateway: a separate HTTP service shaped like a real one, state in memory.

Every POST is idempotent by its Idempotency-Key header: the same key and body get the stored
answer again (header Idempotent-Replayed: true), the same key with another body gets 422,
and a key whose first request is still being worked on gets 409 (retry-safe).

Faults are set at start (create_sandbox_app) and at run time (PUT /admin/faults changes the
fields it names). They apply to /v1 only: latency_ms delays every call; stall holds every
call until stall is switched off or hang_seconds pass, then answers 503 having done nothing;
error_rate answers 503 having done nothing; timeout_rate holds a new request hang_seconds
before doing the work (the work completes even if the caller has gone); decline_rate
declines authorisations (402); lost_reply_rate answers 500 after the work (or replay) was done.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Header, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.payments.ledger import (
    Answer,
    AuthorisationRequest,
    Faults,
    FaultsUpdate,
    GatewayError,
    MoneyRequest,
    SandboxState,
)

__all__ = ["Faults", "SandboxState", "create_sandbox_app"]

log = structlog.get_logger()
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]


class _FaultGate:
    """Applies latency, stall and error_rate to /v1 requests before anything else runs."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        self.state.count_request()
        faults = self.state.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        refusal = None
        if faults.stall:
            await self.state.hold_while_stalled(faults.hang_seconds)
            refusal = GatewayError(503, "stalled", "the gateway stalled")
        elif self.state.roll(faults.error_rate):
            refusal = GatewayError(503, "unavailable", "the gateway is unavailable")
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await _json(refusal.answer())(scope, receive, send)


def _json(answer: Answer, *, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(answer[1], answer[0], headers=headers)


def _fingerprint(operation: str, payment_id: str, body: BaseModel | None) -> str:
    data = body.model_dump() if body is not None else None
    return json.dumps([operation, payment_id, data], sort_keys=True)


def _key(value: str | None) -> str:
    if value is None or not 1 <= len(value) <= 255 or not value.isprintable():
        raise GatewayError(400, "idempotency_key_required", "send an Idempotency-Key header")
    return value


class _Idempotent:
    """Runs a POST's work once per Idempotency-Key and answers, as the module docstring says.

    The work runs in a task of its own, held here, so that it completes even when the caller
    has gone (timeout_rate); lost_reply_rate then loses the answer after the work was done.
    """

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.held: set[asyncio.Task[Answer]] = set()

    async def __call__(
        self, key: str | None, fingerprint: str, work: Callable[[str], Answer]
    ) -> Response:
        key = _key(key)
        replay = self.state.claim(key, fingerprint)
        if replay is None:
            task = asyncio.ensure_future(self._hold_then_work(key, fingerprint, work))
            self.held.add(task)
            task.add_done_callback(self.held.discard)
            answer = await asyncio.shield(task)
        else:
            answer = replay
        if self.state.roll(self.state.faults.lost_reply_rate):
            return _json((500, {"status": "error", "reason": "internal_error"}))
        return _json(answer, replayed=replay is not None)

    async def _hold_then_work(
        self, key: str, fingerprint: str, work: Callable[[str], Answer]
    ) -> Answer:
        state = self.state
        try:
            if state.roll(state.faults.timeout_rate):
                await asyncio.sleep(state.faults.hang_seconds)
            return state.complete(key, fingerprint, work)
        finally:
            state.release(key)


def create_sandbox_app(faults: Faults | None = None, *, seed: int | None = None) -> FastAPI:
    """The sandbox gateway with these start faults; seed makes its fault dice repeatable."""
    state = SandboxState(faults or Faults(), seed)
    app = FastAPI(title="Sandbox card gateway", version="1")
    app.state.sandbox = state
    app.add_middleware(_FaultGate, state=state)
    _add_error_handlers(app)
    _add_payment_routes(app, state, _Idempotent(state))
    _add_admin_routes(app, state)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Refusals and invalid requests as the gateway's own JSON errors."""

    @app.exception_handler(GatewayError)
    async def _refused(request: Request, exc: GatewayError) -> Response:
        return _json(exc.answer())

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        body = {"status": "error", "reason": "invalid_request", "detail": errors}
        return JSONResponse(body, 422)


def _add_payment_routes(app: FastAPI, state: SandboxState, idempotent: _Idempotent) -> None:
    """/v1: the card gateway's API, where the faults apply."""

    @app.post("/v1/authorisations", status_code=201)
    async def authorise(body: AuthorisationRequest, key: KeyHeader = None) -> Response:
        """Hold an amount on the card: 201 authorised, or 402 declined."""
        fingerprint = _fingerprint("authorise", "", body)
        return await idempotent(key, fingerprint, lambda claimed: state.authorise(claimed, body))

    @app.post("/v1/payments/{payment_id}/captures", status_code=201)
    async def capture(payment_id: str, body: MoneyRequest, key: KeyHeader = None) -> Response:
        """Capture an authorised payment (once, up to the authorised amount)."""
        fingerprint = _fingerprint("capture", payment_id, body)
        return await idempotent(key, fingerprint, lambda _: state.capture(payment_id, body))

    @app.post("/v1/payments/{payment_id}/voids", status_code=201)
    async def void(payment_id: str, key: KeyHeader = None) -> Response:
        """Release an authorisation that was never captured."""
        fingerprint = _fingerprint("void", payment_id, None)
        return await idempotent(key, fingerprint, lambda _: state.void(payment_id))

    @app.post("/v1/payments/{payment_id}/refunds", status_code=201)
    async def refund(payment_id: str, body: MoneyRequest, key: KeyHeader = None) -> Response:
        """Refund captured money, in parts if need be, up to what was captured."""
        fingerprint = _fingerprint("refund", payment_id, body)
        return await idempotent(key, fingerprint, lambda _: state.refund(payment_id, body))

    @app.get("/v1/payments")
    async def find(idempotency_key: Annotated[str, Query(max_length=255)]) -> Response:
        """The payment made by the authorisation with this key (404 if none, 409 if pending)."""
        return JSONResponse(state.find(idempotency_key))

    @app.get("/v1/payments/{payment_id}")
    async def show(payment_id: str) -> Response:
        """One payment."""
        return JSONResponse(state.view(payment_id))


def _add_admin_routes(app: FastAPI, state: SandboxState) -> None:
    """/admin: the faults in force, the charges, the stats and a reset; and /healthz."""

    @app.get("/admin/faults")
    async def get_faults() -> Faults:
        """The faults in force."""
        return state.faults

    @app.put("/admin/faults")
    async def put_faults(update: FaultsUpdate) -> Faults:
        """Change the faults named in the body; the others keep their values."""
        faults = state.update_faults(update)
        log.info("sandbox_faults", **faults.model_dump())
        return faults

    @app.get("/admin/charges")
    async def charges(include_declined: bool = False) -> list[dict[str, Any]]:
        """Every authorisation that held money, with its state and amounts.

        A decline holds nothing, so it is listed only with include_declined=true.
        """
        return state.charges(include_declined=include_declined)

    @app.get("/admin/stats")
    async def stats() -> dict[str, int]:
        """/v1 requests received, requests held by a stall, keys being worked on."""
        return {
            "requests": state.requests,
            "stalled": state.stalled,
            "in_progress": state.in_progress(),
        }

    @app.post("/admin/reset")
    async def reset() -> dict[str, str]:
        """Forget every payment and key; restore the start faults."""
        state.reset()
        return {"status": "reset"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}
