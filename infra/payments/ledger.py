"""The sandbox gateway's state: payments, idempotency keys and faults, behind one lock."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Rate = Annotated[float, Field(ge=0, le=1)]
Amount = Annotated[int, Field(gt=0, le=10**12)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Answer = tuple[int, dict[str, Any]]
STALL_POLL_SECONDS = 0.01


class Faults(BaseModel):
    """Injected faults, applied to /v1 requests (see infra.payments.sandbox)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    error_rate: Rate = 0.0
    lost_reply_rate: Rate = 0.0
    decline_rate: Rate = 0.0
    timeout_rate: Rate = 0.0
    hang_seconds: float = Field(default=5.0, ge=0, le=600)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    stall: bool = False


class FaultsUpdate(BaseModel):
    """Faults to change; the fields left out keep their values."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    error_rate: Rate | None = None
    lost_reply_rate: Rate | None = None
    decline_rate: Rate | None = None
    timeout_rate: Rate | None = None
    hang_seconds: Annotated[float, Field(ge=0, le=600)] | None = None
    latency_ms: Annotated[int, Field(ge=0, le=60_000)] | None = None
    stall: bool | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AuthorisationRequest(_Strict):
    """Hold amount_minor of currency on the card for our order reference."""

    amount_minor: Amount
    currency: Currency
    reference: Annotated[str, Field(min_length=1, max_length=128)]


class MoneyRequest(_Strict):
    """An amount to capture or refund, in the payment's currency."""

    amount_minor: Amount
    currency: Currency


class GatewayError(Exception):
    """A refusal answered as {"status": "error", "reason": ..., "detail": ...}."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail

    def answer(self) -> Answer:
        return self.status, {"status": "error", "reason": self.reason, "detail": self.detail}


@dataclass
class Payment:
    """One authorisation and what became of it."""

    payment_id: str
    idempotency_key: str
    reference: str
    amount_minor: int
    currency: str
    state: str
    captured_minor: int = 0
    refunded_minor: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "status": self.state,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "reference": self.reference,
            "captured_minor": self.captured_minor,
            "refunded_minor": self.refunded_minor,
        }


@dataclass
class _Keyed:
    fingerprint: str
    answer: Answer | None = None


class SandboxState:
    """The gateway's payments, idempotency keys and faults, behind one lock."""

    def __init__(self, faults: Faults, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._initial, self._seed = faults, seed
        self.faults = faults
        self._rng = random.Random(seed)
        self._payments: dict[str, Payment] = {}
        self._by_key: dict[str, str] = {}
        self._keys: dict[str, _Keyed] = {}
        self.requests = 0
        self.stalled = 0

    def reset(self) -> None:
        """Forget every payment and key; restore the start faults and random seed."""
        with self._lock:
            self.faults, self._rng = self._initial, random.Random(self._seed)
            self._payments, self._by_key, self._keys = {}, {}, {}
            self.requests = 0

    def update_faults(self, update: FaultsUpdate) -> Faults:
        """Change the faults named in update; the others keep their values."""
        with self._lock:
            changes = update.model_dump(exclude_unset=True, exclude_none=True)
            self.faults = self.faults.model_copy(update=changes)
            return self.faults

    def roll(self, rate: float) -> bool:
        """True with probability rate."""
        with self._lock:
            return self._roll(rate)

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    async def hold_while_stalled(self, seconds: float) -> None:
        """Wait until stall is switched off or seconds pass."""
        deadline = time.monotonic() + seconds
        with self._lock:
            self.stalled += 1
        try:
            while self.faults.stall and time.monotonic() < deadline:
                await asyncio.sleep(STALL_POLL_SECONDS)
        finally:
            with self._lock:
                self.stalled -= 1

    def claim(self, key: str, fingerprint: str) -> Answer | None:
        """None: the key is now this request's to work on; otherwise the answer to replay."""
        with self._lock:
            record = self._keys.get(key)
            if record is None:
                self._keys[key] = _Keyed(fingerprint)
                return None
            if record.fingerprint != fingerprint:
                raise GatewayError(422, "idempotency_key_reused", "key used for another request")
            if record.answer is None:
                raise GatewayError(409, "request_in_progress", "this key is being processed")
            return record.answer

    def complete(self, key: str, fingerprint: str, work: Callable[[str], Answer]) -> Answer:
        """Do the work under the lock and store its answer (refusals too) under the key."""
        with self._lock:
            try:
                answer = work(key)
            except GatewayError as refusal:
                answer = refusal.answer()
            self._keys.setdefault(key, _Keyed(fingerprint)).answer = answer
            return answer

    def release(self, key: str) -> None:
        """Free a key whose work never happened."""
        with self._lock:
            record = self._keys.get(key)
            if record is not None and record.answer is None:
                del self._keys[key]

    def in_progress(self) -> int:
        with self._lock:
            return sum(record.answer is None for record in self._keys.values())

    def authorise(self, key: str, request: AuthorisationRequest) -> Answer:
        """Called with the lock held."""
        payment_id = f"pay_{uuid.uuid4().hex[:24]}"
        declined = self._roll(self.faults.decline_rate)
        payment = Payment(
            payment_id,
            key,
            request.reference,
            request.amount_minor,
            request.currency,
            "declined" if declined else "authorised",
        )
        self._payments[payment_id] = payment
        self._by_key[key] = payment_id
        if declined:
            return 402, {"status": "declined", "reason": "card_declined", "payment_id": payment_id}
        return 201, payment.view()

    def capture(self, payment_id: str, request: MoneyRequest) -> Answer:
        """Called with the lock held."""
        payment = self._payable(payment_id, request.currency, "authorised", "capture")
        if request.amount_minor > payment.amount_minor:
            raise GatewayError(422, "amount_exceeds_authorised", "more than was authorised")
        payment.state, payment.captured_minor = "captured", request.amount_minor
        return 201, payment.view()

    def void(self, payment_id: str) -> Answer:
        """Called with the lock held."""
        payment = self._payment(payment_id)
        if payment.state != "authorised":
            raise GatewayError(422, "invalid_state", f"cannot void a {payment.state} payment")
        payment.state = "voided"
        return 201, payment.view()

    def refund(self, payment_id: str, request: MoneyRequest) -> Answer:
        """Called with the lock held."""
        payment = self._payable(payment_id, request.currency, "captured", "refund")
        if request.amount_minor > payment.captured_minor - payment.refunded_minor:
            raise GatewayError(422, "amount_exceeds_captured", "more than is left to refund")
        payment.refunded_minor += request.amount_minor
        if payment.refunded_minor == payment.captured_minor:
            payment.state = "refunded"
        return 201, payment.view()

    def _payable(self, payment_id: str, currency: str, state: str, action: str) -> Payment:
        payment = self._payment(payment_id)
        if payment.state != state:
            raise GatewayError(422, "invalid_state", f"cannot {action} a {payment.state} payment")
        if currency != payment.currency:
            raise GatewayError(422, "currency_mismatch", f"the payment is in {payment.currency}")
        return payment

    def _payment(self, payment_id: str) -> Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise GatewayError(404, "payment_not_found", "no such payment")
        return payment

    def view(self, payment_id: str) -> dict[str, Any]:
        with self._lock:
            return self._payment(payment_id).view()

    def find(self, key: str) -> dict[str, Any]:
        """The payment made by the authorisation with this key."""
        with self._lock:
            payment_id = self._by_key.get(key)
            if payment_id is not None:
                return self._payments[payment_id].view()
            record = self._keys.get(key)
            if record is not None and record.answer is None:
                raise GatewayError(409, "request_in_progress", "this key is being processed")
            raise GatewayError(404, "payment_not_found", "no authorisation with this key")

    def charges(self, *, include_declined: bool = False) -> list[dict[str, Any]]:
        """Every authorisation that held money (and, if asked, every declined one)."""
        with self._lock:
            return [
                asdict(payment)
                for payment in self._payments.values()
                if include_declined or payment.state != "declined"
            ]
