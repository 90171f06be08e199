"""What a load run needs, made through the command API: sellers, products, stock, shoppers.

Every run makes fresh identities (sellers, products and shoppers with new ids), so runs
never share flash-sale stock or purchase limits; --seed only chooses titles and traffic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

import httpx

from infra.auth import Role, TokenCodec
from loadtest.demo import Transient, busy, busy_api_retrying, run_all
from loadtest.demo_catalog import DemoSeller, customer, product, seller
from loadtest.plan import Fixture, LoadOptions, Shopper

CATALOG_STOCK = 5000
"""Units of each ordinary product: enough that ordinary checkouts never sell one out."""
CONCURRENCY = 16
VISIBLE_TIMEOUT_SECONDS = 90.0
SHIP_FROM = {"line1": "1 Dock Rd", "city": "Antwerp", "postal_code": "2000", "country": "BE"}


class PrepareFailed(Exception):
    """The command API refused a preparation command, or the views never showed it."""


class Preparer:
    """Sends preparation commands as their actors; thread-safe over one httpx.Client."""

    def __init__(self, client: httpx.Client, codec: TokenCodec, ttl_seconds: int) -> None:
        self.client = client
        self.codec = codec
        self.ttl_seconds = ttl_seconds
        self.tokens: dict[uuid.UUID, str] = {}

    def token(self, actor: uuid.UUID, role: Role) -> str:
        """The actor's development token, minted once."""
        found = self.tokens.get(actor)
        if found is None:
            found = self.tokens[actor] = self.codec.issue(actor, role, ttl_seconds=self.ttl_seconds)
        return found

    def send(
        self, method: str, path: str, actor: uuid.UUID, role: Role, body: dict[str, Any]
    ) -> dict[str, Any]:
        """One command, retried (same Idempotency-Key) while the API is busy; its JSON answer."""
        headers = {
            "Authorization": f"Bearer {self.token(actor, role)}",
            "Idempotency-Key": f"loadtest-{uuid.uuid4()}",
        }
        for attempt in busy_api_retrying():
            with attempt:
                response = self.client.request(method, path, json=body, headers=headers)
                if busy(response):
                    raise Transient(f"{method} {path}: {response.status_code}")
        if response.status_code >= 400:
            raise PrepareFailed(f"{method} {path} answered {response.status_code}: {response.text}")
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    def seller(self, demo: DemoSeller) -> None:
        """Register a seller with a ship-from address."""
        self.send("POST", "/v1/sellers", demo.id, "seller", demo.body)
        address = {"name": demo.body["name"], **SHIP_FROM}
        self.send("PUT", f"/v1/sellers/{demo.id}/address", demo.id, "seller", address)

    def product(
        self, owner: DemoSeller, body: dict[str, Any], stock: int, limit: int | None = None
    ) -> str:
        """List a product, receive its stock and set its purchase limit; its id."""
        product_id = str(self.send("POST", "/v1/products", owner.id, "seller", body)["id"])
        receipt = {"quantity": stock}
        self.send("POST", f"/v1/products/{product_id}/stock/receipts", owner.id, "seller", receipt)
        if limit is not None:
            path = f"/v1/products/{product_id}/stock/purchase-limit"
            self.send("PUT", path, owner.id, "seller", {"limit": limit})
        return product_id

    def shopper(self, seed: int, index: int) -> Shopper:
        """Register a customer with one delivery address; the shopper with its token."""
        shopper_id, address_id = uuid.uuid4(), uuid.uuid4()
        _, body, addresses = customer(seed, index)
        self.send("POST", "/v1/customers", shopper_id, "shopper", body)
        path = f"/v1/customers/{shopper_id}/addresses/{address_id}"
        self.send("POST", path, shopper_id, "shopper", addresses[0][1])
        return Shopper(str(shopper_id), str(address_id), self.token(shopper_id, "shopper"))


def flash_listing(index: int, body: dict[str, Any]) -> dict[str, Any]:
    """A flash-sale product: a demo product under a door-buster title."""
    return {**body, "title": f"Door Buster {index + 1}: {body['title']}"[:200]}


def parallel(pool: ThreadPoolExecutor, tasks: list[Callable[[], Any]]) -> list[Any]:
    """Results of the tasks, run on the pool, in order; the first failure is raised."""
    futures = [pool.submit(task) for task in tasks]
    return [future.result() for future in futures]


def prepare(options: LoadOptions, codec: TokenCodec, progress: Callable[[str], None]) -> Fixture:
    """Make the run's sellers, products, flash-sale products and shoppers; wait for the views."""
    ttl = int(min(max(options.duration + options.settle + 3600, 60), 86400 * 30))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    with (
        httpx.Client(base_url=options.write_url, limits=limits, timeout=30.0) as client,
        ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="prepare") as pool,
    ):
        preparer = Preparer(client, codec, ttl)
        sellers = [
            replace(seller(options.seed, i), id=uuid.uuid4()) for i in range(options.sellers)
        ]
        run_all(pool, [partial(preparer.seller, s) for s in sellers])
        listings = [product(options.seed, i, sellers) for i in range(options.products)]
        progress(f"listing {len(listings)} products and {options.flash_products} flash-sale ones")
        products = parallel(
            pool, [partial(preparer.product, o, body, CATALOG_STOCK) for o, body in listings]
        )
        flash_tasks: list[Callable[[], Any]] = []
        for i in range(options.flash_products):
            owner, body = product(options.seed + 1, i, sellers[:1])
            flash_tasks.append(
                partial(
                    preparer.product,
                    owner,
                    flash_listing(i, body),
                    options.flash_stock,
                    options.flash_limit,
                )
            )
        flash = parallel(pool, flash_tasks)
        progress(f"registering {options.max_users} shoppers")
        shoppers = parallel(
            pool, [partial(preparer.shopper, options.seed, i) for i in range(options.max_users)]
        )
    wait_visible(options.read_url, products + flash, len(products), options.flash_stock)
    terms = sorted({str(body["attributes"]["brand"]) for _, body in listings})
    terms += sorted({str(body["title"]).split(",")[0].split()[-1] for _, body in listings})
    return Fixture(
        run_id=uuid.uuid4().hex[:12],
        products=products,
        flash_products=flash,
        shoppers=shoppers,
        search_terms=terms,
        categories=sorted({str(body["category"]) for _, body in listings}),
        flash_stock={product_id: options.flash_stock for product_id in flash},
    )


def wait_visible(read_url: str, product_ids: list[str], ordinary: int, flash_stock: int) -> None:
    """Wait until the product-detail view shows every product with its stock."""
    deadline = time.monotonic() + VISIBLE_TIMEOUT_SECONDS
    pending = list(enumerate(product_ids))
    with httpx.Client(base_url=read_url, timeout=10.0) as client:
        while pending:
            index, product_id = pending[0]
            response = client.get(f"/v1/products/{product_id}")
            expected = CATALOG_STOCK if index < ordinary else flash_stock
            if response.status_code == 200 and response.json()["units_available"] == expected:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise PrepareFailed(
                    f"product {product_id} not shown with its stock after "
                    f"{VISIBLE_TIMEOUT_SECONDS:.0f} s (last answer {response.status_code})"
                )
            time.sleep(0.2)
