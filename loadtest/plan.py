"""What a load run does: its options, the data it prepared, and the traffic shape over time."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VIEW_ENDPOINTS = (
    "GET /v1/search",
    "GET /v1/products/{id}",
    "GET /v1/carts/{id}",
    "GET /v1/products/{id} (flash)",
)
CART_ENDPOINTS = (
    "POST /v1/carts",
    "POST /v1/carts/{id}/items",
    "PUT /v1/carts/{id}/items/{product_id}",
    "DELETE /v1/carts/{id}/items/{product_id}",
    "POST /v1/carts/{id}/items (flash)",
)
CHECKOUT_ENDPOINTS = ("POST /v1/carts/{id}/checkout", "POST /v1/carts/{id}/checkout (flash)")
ENDPOINTS = VIEW_ENDPOINTS + CART_ENDPOINTS + CHECKOUT_ENDPOINTS
"""Every endpoint of the mix, by the name its requests are recorded under."""

FLASH_WINDOW_SECONDS = 20.0
"""How long the extra flash-sale buyers stay before the crowd shrinks back to the peak."""


def endpoint_class(endpoint: str) -> str:
    """views, cart or checkout: the group an endpoint's latency goal belongs to."""
    if endpoint in CHECKOUT_ENDPOINTS:
        return "checkout"
    return "cart" if endpoint in CART_ENDPOINTS else "views"


@dataclass(frozen=True)
class LoadOptions:
    """The command line of one run."""

    write_url: str = "http://127.0.0.1:8000"
    read_url: str = "http://127.0.0.1:8001"
    duration: float = 120.0
    users: int = 100
    spawn_rate: float | None = None
    """Users started per second during the ramp; None: reach the peak at ramp seconds."""
    ramp: float | None = None
    """Seconds to reach the peak; None: 40 % of the duration."""
    flash_at: float | None = None
    """Second at which the flash sale opens; None: half-way through."""
    flash_users: int | None = None
    """Buyers who join when the flash sale opens; None: half the peak."""
    flash_products: int = 3
    flash_stock: int = 10
    flash_limit: int = 1
    products: int = 60
    sellers: int = 4
    think: float = 1.0
    """Mean pause of a shopper between two steps, in seconds."""
    seed: int = 42
    one_ip: bool = False
    """Send every request from the load generator's own address (no X-Forwarded-For)."""
    sample_every: float = 2.0
    bucket: float | None = None
    """Seconds per chart bucket; None: a fortieth of the duration, from 1 to 10 s."""
    settle: float = 60.0
    checkout_metrics: str | None = None
    """The checkout worker's Prometheus endpoint, for the payment breaker."""

    @property
    def ramp_seconds(self) -> float:
        """Seconds to reach the peak."""
        if self.ramp is not None:
            return max(self.ramp, 0.0)
        if self.spawn_rate:
            return self.users / self.spawn_rate
        return 0.4 * self.duration

    @property
    def bucket_seconds(self) -> float:
        """Seconds per chart bucket."""
        return self.bucket or min(max(self.duration / 40, 1.0), 10.0)

    @property
    def flash_start(self) -> float:
        """Second at which the flash sale opens."""
        return self.duration / 2 if self.flash_at is None else self.flash_at

    @property
    def flash_crowd(self) -> int:
        """Buyers who join for the flash sale."""
        return max(self.users // 2, 1) if self.flash_users is None else self.flash_users

    @property
    def max_users(self) -> int:
        """The most users running at once."""
        return self.users + self.flash_crowd


def stage_at(options: LoadOptions, t: float) -> tuple[int, float] | None:
    """The (users, spawn rate) Locust should aim for t seconds into the run; None: stop.

    A linear ramp to the peak, a crowd of flash buyers arriving within two seconds of the
    sale's start and leaving FLASH_WINDOW_SECONDS later, then the peak until the end.
    """
    if t >= options.duration:
        return None
    ramp = options.ramp_seconds
    rate = options.spawn_rate or (options.users / ramp if ramp > 0 else float(options.users))
    start = options.flash_start
    crowd_rate = max(options.flash_crowd / 2.0, 1.0)
    if start <= t < start + FLASH_WINDOW_SECONDS:
        return options.max_users, crowd_rate
    if t >= start + FLASH_WINDOW_SECONDS:
        return options.users, crowd_rate
    return options.users, max(rate, 0.1)


@dataclass(frozen=True)
class Shopper:
    """A registered customer the load acts as."""

    id: str
    address_id: str
    token: str


@dataclass(frozen=True)
class Fixture:
    """What the run prepared through the command API, handed to the Locust process."""

    run_id: str
    products: list[str]
    flash_products: list[str]
    shoppers: list[Shopper]
    search_terms: list[str]
    categories: list[str]
    flash_stock: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SwarmPlan:
    """Everything the Locust process needs: the options, the fixture, and where to write."""

    options: LoadOptions
    fixture: Fixture
    requests_csv: str
    swarm_json: str

    def write(self, path: Path) -> Path:
        """Write the plan as JSON."""
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> SwarmPlan:
        """A plan written by write()."""
        raw: dict[str, Any] = json.loads(path.read_text())
        fixture = dict(raw["fixture"])
        fixture["shoppers"] = [Shopper(**s) for s in fixture["shoppers"]]
        return cls(
            LoadOptions(**raw["options"]),
            Fixture(**fixture),
            raw["requests_csv"],
            raw["swarm_json"],
        )
