"""The checkout benchmark's shop: sellers, products, filled carts and the check_out calls."""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from commands.services import Commands
from domain.base import Context
from domain.cart import cart_id_for
from domain.money import Money
from domain.seller import Seller

ADDRESS = {"line1": "1 Loop Rd", "line2": "", "city": "Lyon", "postal_code": "69001"}
CHECKOUT_KEY = "bench-checkout"
EXPIRY = timedelta(minutes=15)


def log(message: str, started: float) -> None:
    """A progress line on stderr."""
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def acting(actor: UUID, role: str) -> Context:
    """A context for actor in role, now."""
    rid = f"bench-{uuid4().hex}"
    return Context(datetime.now(UTC), str(actor), role, rid, rid, rid)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


@dataclass
class Plan:
    """The shop: sellers, products and what each shopper's cart holds."""

    sellers: list[UUID]
    products: list[UUID]
    hot: UUID | None
    seller_of: dict[UUID, UUID]
    price_of: dict[UUID, int]
    carts: dict[UUID, dict[UUID, int]] = field(default_factory=dict)
    addresses: dict[UUID, UUID] = field(default_factory=dict)

    def ordered_units(self) -> Counter[UUID]:
        """Units ordered per product, over every cart."""
        units: Counter[UUID] = Counter()
        for lines in self.carts.values():
            units.update(lines)
        return units

    def total_of(self, shopper: UUID) -> int:
        """The cart's total in minor units."""
        return sum(self.price_of[p] * n for p, n in self.carts[shopper].items())

    def sellers_in(self, shopper: UUID) -> int:
        """How many sellers the shopper's cart buys from."""
        return len({self.seller_of[p] for p in self.carts[shopper]})


def parallel(threads: int, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """fn over items on a thread pool, re-raising the first error."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))


def build_shop(commands: Commands, args: argparse.Namespace, rng: random.Random) -> Plan:
    """Sellers with addresses, products with ample stock, shoppers with addresses and carts."""
    sellers = [uuid4() for _ in range(args.sellers)]
    products = [uuid4() for _ in range(args.products)]
    hot = uuid4() if args.hot_share > 0 else None
    listed = products + ([hot] if hot else [])
    plan = Plan(
        sellers,
        products,
        hot,
        {p: sellers[i % len(sellers)] for i, p in enumerate(listed)},
        {p: 1000 + 37 * i for i, p in enumerate(listed)},
    )
    open_sellers(commands, sellers, args.threads)
    stock = 3 * 3 * args.shoppers + 10  # at most 3 lines of at most 3 units each
    list_products(commands, plan, listed, args.threads, stock)
    plan_carts(plan, args.shoppers, args.hot_share, rng)

    def fill(shopper: UUID) -> None:
        fill_cart(commands, shopper, plan.addresses[shopper], plan.carts[shopper])

    parallel(args.threads, fill, list(plan.carts))
    return plan


def open_seller(commands: Commands, seller: UUID) -> None:
    """Register the seller and give it an address."""
    ctx = acting(seller, "seller")
    commands.catalog.register_seller(seller, "Benchmark seller", "seller@bench.example", ctx)
    address = {"name": "Bench Ltd", **ADDRESS, "city": "Ghent", "country": "BE"}
    commands.catalog.change(seller, Seller, lambda s: s.set_address(address, ctx))


def open_sellers(commands: Commands, sellers: list[UUID], threads: int) -> None:
    """Open every seller from a pool of threads."""
    parallel(threads, lambda seller: open_seller(commands, seller), sellers)


def list_products(
    commands: Commands, plan: Plan, listed: list[UUID], threads: int, stock: int
) -> None:
    """List every product at its price and receive stock units of it, from a pool of threads."""

    def list_product(product: UUID) -> None:
        ctx = acting(plan.seller_of[product], "seller")
        price = Money(plan.price_of[product], "EUR")
        seller = plan.seller_of[product]
        commands.catalog.list_product(product, seller, "Kettle", "", "home", {}, price, ctx)
        commands.receive_stock(product, stock, ctx)

    parallel(threads, list_product, listed)


def plan_carts(plan: Plan, shoppers: int, hot_share: float, rng: random.Random) -> None:
    """Draw each shopper's cart (1 to 3 lines of 1 to 3 units) and delivery address id."""
    for _ in range(shoppers):
        shopper = uuid4()
        with_hot = plan.hot is not None and rng.random() < hot_share
        count = rng.randint(1, 3) - (1 if with_hot else 0)
        chosen = rng.sample(plan.products, count) + ([plan.hot] if with_hot and plan.hot else [])
        if not chosen:
            chosen = [rng.choice(plan.products)]
        plan.carts[shopper] = {p: rng.randint(1, 3) for p in chosen}
        plan.addresses[shopper] = uuid4()


def fill_cart(commands: Commands, shopper: UUID, address_id: UUID, lines: dict[UUID, int]) -> int:
    """Register the shopper with one delivery address and put the lines in a new cart; the
    cart's version (its ETag)."""
    ctx = acting(shopper, "shopper")
    commands.customers.register_customer(shopper, "Shopper", "shopper@bench.example", ctx)
    address = {**ADDRESS, "country": "FR"}
    commands.customers.add_address(shopper, address_id, address, ctx, None)
    outcome, _ = commands.carts.create_cart(shopper, ctx)
    for product, quantity in lines.items():
        outcome = commands.add_to_cart(cart_id_for(shopper), product, quantity, ctx)
    return outcome.version


@dataclass(frozen=True)
class Call:
    """One check_out call: when it started and returned, and its order (or its error)."""

    shopper: UUID
    order_id: UUID | None
    started: datetime
    returned: datetime
    seconds: float
    error: str | None


def check_out_all(
    commands: Commands, plan: Plan, threads: int, rate: float | None = None
) -> list[Call]:
    """Check out every cart from a pool of threads, as the command API's handlers would: all
    at once, or with rate, the i-th cart due i / rate seconds after the first (a steady
    arrival rate; a call starts late only if every thread is busy)."""
    began_at = time.perf_counter()
    due = {shopper: i / rate for i, shopper in enumerate(plan.carts)} if rate else {}

    def one(shopper: UUID) -> Call:
        wait = due.get(shopper, 0.0) - (time.perf_counter() - began_at)
        if wait > 0:
            time.sleep(wait)
        ctx = acting(shopper, "shopper")
        began = time.perf_counter()
        try:
            outcome = commands.check_out(
                shopper, plan.addresses[shopper], CHECKOUT_KEY, ctx.at + EXPIRY, ctx
            )
            order_id, error = outcome.aggregate_id, None
        except Exception as failure:
            order_id, error = None, repr(failure)
        seconds = time.perf_counter() - began
        return Call(shopper, order_id, ctx.at, datetime.now(UTC), seconds, error)

    return parallel(threads, one, list(plan.carts))
