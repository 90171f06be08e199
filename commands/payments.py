"""What the checkout needs from a card gateway, independent of how it is reached."""

from __future__ import annotations

from typing import Literal, Protocol

GatewayStatus = Literal["approved", "declined", "unavailable"]


class GatewayAnswer(Protocol):
    """One gateway call's outcome.

    approved: done (payment_id names the payment); declined: a final refusal (reason says
    why); unavailable: nothing is known to have happened, so try later with the same key.
    """

    @property
    def status(self) -> GatewayStatus: ...

    @property
    def payment_id(self) -> str | None: ...

    @property
    def reason(self) -> str: ...


class PaymentGateway(Protocol):
    """A card gateway; every call carries an idempotency key, so a repeat never charges twice."""

    def authorise(
        self, key: str, amount_minor: int, currency: str, *, reference: str | None = None
    ) -> GatewayAnswer:
        """Hold amount on the shopper's card; reference names our order at the gateway."""
        ...

    def capture(self, payment_id: str, key: str, amount_minor: int, currency: str) -> GatewayAnswer:
        """Take held money."""
        ...

    def void(self, payment_id: str, key: str) -> GatewayAnswer:
        """Release an authorisation that was never captured."""
        ...

    def refund(self, payment_id: str, key: str, amount_minor: int, currency: str) -> GatewayAnswer:
        """Give back captured money."""
        ...
