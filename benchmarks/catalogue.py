"""The read-path benchmark's demo catalogue, made through commands.services.Commands.

Sellers, products and their first stock come from loadtest.demo_catalog (deterministic
from a seed), written by the same handlers the command API calls, in a thread pool.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from benchmarks.fixtures import settings_for
from benchmarks.loadgen import LoadData
from domain.base import Context
from domain.money import Money
from loadtest import demo_catalog
from marketplace.bootstrap import build_commands, token_codec


@dataclass(frozen=True)
class Catalogue:
    """What was loaded: ids, owners (index into sellers), titles and units received."""

    sellers: list[UUID]
    products: list[UUID]
    owner: list[int]
    titles: list[str]
    units: int
    seller_tokens: list[str]

    def product_paths(self) -> list[str]:
        """The product-detail path of every product."""
        return [f"/v1/products/{p}" for p in self.products]

    def stock_load(self) -> LoadData:
        """Receive-stock requests over every product, each under its seller's token."""
        return LoadData(
            stock_paths=[f"/v1/products/{p}/stock/receipts" for p in self.products],
            stock_owner=self.owner,
            seller_auth=self.seller_tokens,
        )


def _ctx(actor: UUID, role: str) -> Context:
    rid = f"read-bench-{uuid4().hex}"
    return Context(datetime.now(UTC), str(actor), role, rid, rid, rid)


def load(url: str, *, sellers: int, products: int, seed: int = 42) -> Catalogue:
    """Register sellers, list products and receive their first stock on the schema URL."""
    settings = settings_for(url, split_logs=True)
    commands = build_commands(settings)
    demo_sellers = [demo_catalog.seller(seed, i) for i in range(sellers)]
    index = {s.id: i for i, s in enumerate(demo_sellers)}
    product_ids = [
        demo_catalog.uuid_from(demo_catalog.rng_for(seed, "id", i)) for i in range(products)
    ]
    owner = [0] * products
    titles = [""] * products
    quantities = [demo_catalog.stock_quantity(seed, i) for i in range(products)]

    def register(demo: demo_catalog.DemoSeller) -> None:
        body = demo.body
        commands.catalog.register_seller(
            demo.id, body["name"], body["email"], _ctx(demo.id, "seller")
        )

    def list_and_stock(i: int) -> None:
        seller, body = demo_catalog.product(seed, i, demo_sellers)
        owner[i], titles[i] = index[seller.id], body["title"]
        ctx = _ctx(seller.id, "seller")
        price = body["price"]
        commands.catalog.list_product(
            product_ids[i],
            seller.id,
            body["title"],
            body["description"],
            body["category"],
            body["attributes"],
            Money(price["amount_minor"], price["currency"]),
            ctx,
        )
        commands.receive_stock(product_ids[i], quantities[i], ctx)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(register, demo_sellers))
            list(pool.map(list_and_stock, range(products)))
    finally:
        commands.close()
    tokens = token_codec(settings.auth)
    return Catalogue(
        sellers=[s.id for s in demo_sellers],
        products=product_ids,
        owner=owner,
        titles=titles,
        units=sum(quantities),
        seller_tokens=[f"Bearer {tokens.issue(s.id, 'seller')}" for s in demo_sellers],
    )
