"""The Black Friday shopper as a Locust user: mostly browsing, some cart changes, few checkouts.

Each simulated shopper is one registered customer with its own token, cart and client
address (sent as X-Forwarded-For, which the APIs honour from the loopback proxy address, so
per-IP rate limits see a crowd rather than one machine). Once the flash sale opens, every
shopper goes for one of the door busters at once; a tenth of them are bots that ask for
more than the purchase limit and try twice.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from locust import FastHttpUser, between, task
from locust.contrib.fasthttp import FastResponse

from domain.cart import cart_id_for
from loadtest.journal import PlacedOrder, SwarmOutcome
from loadtest.plan import Shopper, SwarmPlan

MIX: dict[str, int] = {
    "search": 45,
    "view_product": 35,
    "view_cart": 4,
    "add_to_cart": 6,
    "change_quantity": 3,
    "remove_item": 3,
    "check_out": 4,
}
"""Weights of a shopper's next step (out of 100) outside the flash sale."""
BOT_SHARE = 0.1
STALE_CONNECTION_SECONDS = 3.0
"""Idle time after which a shopper no longer trusts its keep-alive connection."""


def client_address(index: int) -> str:
    """A distinct client address for the index-th user (RFC 2544 benchmarking range)."""
    return f"198.18.{(index >> 8) & 255}.{index & 255}"


class BlackFridayShopper(FastHttpUser):
    """One shopper; configure() must have been called before the run."""

    plan: ClassVar[SwarmPlan]
    outcome: ClassVar[SwarmOutcome]
    sale_opens_at: ClassVar[float] = float("inf")
    numbering: ClassVar[itertools.count[int]] = itertools.count()
    popularity: ClassVar[list[float]] = []
    connection_timeout = 10.0
    network_timeout = 30.0
    wait_time = between(0.5, 1.5)

    @classmethod
    def configure(cls, plan: SwarmPlan, outcome: SwarmOutcome) -> None:
        """Bind the plan and the outcome every shopper writes its orders to."""
        cls.plan, cls.outcome = plan, outcome
        cls.host = plan.options.write_url
        think = plan.options.think
        cls.wait_time = between(0.5 * think, 1.5 * think)
        weights = [1.0 / (rank + 1) for rank in range(len(plan.fixture.products))]
        cls.popularity = list(itertools.accumulate(weights))

    def on_start(self) -> None:
        """Take an identity and open the cart."""
        self.index = next(self.numbering)
        write = urlsplit(self.plan.options.write_url)
        port = write.port or (443 if write.scheme == "https" else 80)
        self.write_address = (write.hostname or "127.0.0.1", port)
        fixture, options = self.plan.fixture, self.plan.options
        self.rng = random.Random(options.seed * 1_000_003 + self.index)
        self.me: Shopper = fixture.shoppers[self.index % len(fixture.shoppers)]
        self.read = options.read_url.rstrip("/")
        self.public: dict[str, str] = {}
        if not options.one_ip:
            self.public["X-Forwarded-For"] = client_address(self.index)
        self.private = {**self.public, "Authorization": f"Bearer {self.me.token}"}
        self.lines: dict[str, int] = {}
        self.cart_position = ""
        self.checkouts = 0
        self.bot = self.rng.random() < BOT_SHARE
        self.flash_tries = 2 if self.bot else 1
        self.cart_id = str(cart_id_for(uuid.UUID(self.me.id)))
        self.last_command = time.monotonic()
        answer = self.command("POST", "/v1/carts", "POST /v1/carts")
        if answer.status_code in (200, 201):
            self.cart_id = str(answer.json()["id"])
            position = answer.headers.get("x-log-position") if answer.headers else None
            self.cart_position = str(position or "")
        self.steps: dict[str, Callable[[], None]] = {
            "search": self.search,
            "view_product": self.view_product,
            "view_cart": self.view_cart,
            "add_to_cart": self.add_something,
            "change_quantity": self.change_quantity,
            "remove_item": self.remove_item,
            "check_out": self.check_out,
        }
        self.cumulative = list(itertools.accumulate(MIX.values()))

    @task
    def step(self) -> None:
        """The flash sale first, once it is open; otherwise one step of the usual mix."""
        if self.flash_tries > 0 and time.time() >= self.sale_opens_at:
            self.flash_tries -= 1
            self.flash_sale()
            return
        name = self.rng.choices(list(MIX), cum_weights=self.cumulative)[0]
        self.steps[name]()

    def a_product(self) -> str:
        """A product, the popular ones far more often."""
        products = self.plan.fixture.products
        return self.rng.choices(products, cum_weights=self.popularity)[0]

    def search(self) -> None:
        """Search by a word, sometimes within a category, sometimes the next page."""
        fixture = self.plan.fixture
        params: dict[str, Any] = {"q": self.rng.choice(fixture.search_terms)}
        if self.rng.random() < 0.3:
            params["category"] = self.rng.choice(fixture.categories)
        if self.rng.random() < 0.2:
            params["page"] = 2
        self.client.get(
            f"{self.read}/v1/search", params=params, name="GET /v1/search", headers=self.public
        )

    def view_product(self) -> None:
        """Look at a product's page."""
        path = f"{self.read}/v1/products/{self.a_product()}"
        self.client.get(path, name="GET /v1/products/{id}", headers=self.public)

    def view_cart(self) -> None:
        """Look at the cart, as fresh as the last change to it."""
        headers = dict(self.private)
        if self.cart_position:
            headers["X-Min-Position"] = self.cart_position
        path = f"{self.read}/v1/carts/{self.cart_id}"
        self.client.get(path, name="GET /v1/carts/{id}", headers=headers)

    def add_something(self) -> None:
        """Add one or two units of a product to the cart."""
        self.add_to_cart()

    def add_to_cart(self, product_id: str | None = None, quantity: int | None = None) -> bool:
        """Add units of a product to the cart; whether it was accepted."""
        product_id = product_id or self.a_product()
        quantity = quantity or self.rng.randint(1, 2)
        name = "POST /v1/carts/{id}/items"
        if product_id in self.plan.fixture.flash_products:
            name += " (flash)"
        answer = self.command(
            "POST",
            f"/v1/carts/{self.cart_id}/items",
            name,
            json={"product_id": product_id, "quantity": quantity},
        )
        return self._changed(answer, product_id, self.lines.get(product_id, 0) + quantity)

    def change_quantity(self) -> None:
        """Set a line's quantity (adding a line first to an empty cart)."""
        if not self.lines and not self.add_to_cart():
            return
        product_id = self.rng.choice(sorted(self.lines))
        quantity = self.rng.randint(1, 3)
        answer = self.command(
            "PUT",
            f"/v1/carts/{self.cart_id}/items/{product_id}",
            "PUT /v1/carts/{id}/items/{product_id}",
            json={"quantity": quantity},
        )
        self._changed(answer, product_id, quantity)

    def remove_item(self) -> None:
        """Remove a line (adding one first to an empty cart)."""
        if not self.lines and not self.add_to_cart():
            return
        product_id = self.rng.choice(sorted(self.lines))
        answer = self.command(
            "DELETE",
            f"/v1/carts/{self.cart_id}/items/{product_id}",
            "DELETE /v1/carts/{id}/items/{product_id}",
        )
        self._changed(answer, product_id, 0)

    def check_out(self, flash_product: str | None = None, quantity: int = 0) -> None:
        """Place an order from the cart (adding a line first to an empty cart)."""
        if not self.lines and not self.add_to_cart():
            return
        self.checkouts += 1
        key = f"lt-{self.plan.fixture.run_id}-{self.index}-{self.checkouts}"
        name = "POST /v1/carts/{id}/checkout" + (" (flash)" if flash_product else "")
        answer = self.command(
            "POST",
            f"/v1/carts/{self.cart_id}/checkout",
            name,
            json={"address_id": self.me.address_id},
            headers={**self.private, "Idempotency-Key": key},
        )
        if answer.status_code == 202:
            order_id = str(answer.json()["order_id"])
            self.outcome.orders.append(
                PlacedOrder(order_id, self.me.id, flash_product, quantity, time.time())
            )
            self.lines.clear()

    def flash_sale(self) -> None:
        """Open a door buster's page, put it in the cart and check out at once."""
        fixture = self.plan.fixture
        product_id = self.rng.choice(fixture.flash_products)
        path = f"{self.read}/v1/products/{product_id}"
        self.client.get(path, name="GET /v1/products/{id} (flash)", headers=self.public)
        quantity = self.plan.options.flash_limit + (1 if self.bot else 0)
        if self.add_to_cart(product_id, quantity):
            self.check_out(product_id, quantity)
        if product_id in self.lines:
            answer = self.command(
                "DELETE",
                f"/v1/carts/{self.cart_id}/items/{product_id}",
                "DELETE /v1/carts/{id}/items/{product_id}",
            )
            self._changed(answer, product_id, 0)

    def command(self, method: str, path: str, name: str, **kwargs: Any) -> FastResponse:
        """A request to the command API, on a connection the server has not given up on.

        The command API closes a keep-alive connection after 5 s idle (uvicorn's default);
        a POST sent on it as it closes fails with no answer and is never retried (it may
        not be idempotent). Browsers avoid that race, so a shopper idle that long here
        opens a fresh connection instead.
        """
        if time.monotonic() - self.last_command > STALE_CONNECTION_SECONDS:
            stale = self.client.client.clientpool.clients.pop(self.write_address, None)
            if stale is not None:
                stale.close()
        kwargs.setdefault("headers", self.private)
        answer = self.client.request(method, path, name=name, **kwargs)
        self.last_command = time.monotonic()
        return answer

    def _changed(self, answer: FastResponse, product_id: str, quantity: int) -> bool:
        if answer.status_code != 200:
            return False
        if quantity > 0:
            self.lines[product_id] = quantity
        else:
            self.lines.pop(product_id, None)
        position = answer.headers.get("x-log-position") if answer.headers else None
        if position:
            self.cart_position = str(position)
        return True
