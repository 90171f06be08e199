"""Checkout throughput end to end (cart to confirmed order), next to the raw append rate.

Run `python -m benchmarks.checkout [--shoppers 500] [--threads 16] [--payment-workers 8]`.
One run starts its own durable PostgreSQL (fsync on) on loopback, the sandbox gateway
(`marketplace gateway`) and the checkout worker (`marketplace checkout`) as processes of
their own, prepares sellers, products and filled carts through commands.services.Commands,
then checks every cart out from a thread pool in this process (Commands.check_out directly:
the command API's HTTP cost is what benchmarks.write_path measures) and follows the logs
until every order is confirmed and its units sold. Times to confirmation come from the
events' own timestamps (the Context clock of the command that appended each). Then, with
the worker stopped, it appends new one-event aggregates from as many threads for a fixed
time: the raw append rate of the same PostgreSQL, the baseline of the ratios it prints.
Only invariants decide the exit status: 1 if one fails.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from benchmarks import fixtures
from benchmarks.servers import clean_env, free_port, serving
from commands.services import Commands
from domain.base import Context
from domain.cart import Cart, cart_id_for
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from domain.order import Order
from domain.seller import Seller
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.settings import Settings
from projections.log import ContextLog

ADDRESS = {"line1": "1 Loop Rd", "line2": "", "city": "Lyon", "postal_code": "69001"}
CHECKOUT_KEY = "bench-checkout"
LOGS = ("orders", "inventory", "carts")
EXPIRY = timedelta(minutes=15)
BAD_ENDS = (Order.Rejected, Order.PaymentFailed, Order.Expired, Order.Cancelled)


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

    def open_seller(seller: UUID) -> None:
        ctx = acting(seller, "seller")
        commands.catalog.register_seller(seller, "Benchmark seller", "seller@bench.example", ctx)
        address = {"name": "Bench Ltd", **ADDRESS, "city": "Ghent", "country": "BE"}
        commands.catalog.change(seller, Seller, lambda s: s.set_address(address, ctx))

    parallel(args.threads, open_seller, sellers)
    stock = 3 * 3 * args.shoppers + 10  # at most 3 lines of at most 3 units each

    def list_product(product: UUID) -> None:
        ctx = acting(plan.seller_of[product], "seller")
        price = Money(plan.price_of[product], "EUR")
        seller = plan.seller_of[product]
        commands.catalog.list_product(product, seller, "Kettle", "", "home", {}, price, ctx)
        commands.receive_stock(product, stock, ctx)

    parallel(args.threads, list_product, listed)
    for _ in range(args.shoppers):
        shopper = uuid4()
        with_hot = hot is not None and rng.random() < args.hot_share
        count = rng.randint(1, 3) - (1 if with_hot else 0)
        chosen = rng.sample(products, count) + ([hot] if with_hot and hot else [])
        if not chosen:
            chosen = [rng.choice(products)]
        plan.carts[shopper] = {p: rng.randint(1, 3) for p in chosen}
        plan.addresses[shopper] = uuid4()

    def fill(shopper: UUID) -> None:
        fill_cart(commands, shopper, plan.addresses[shopper], plan.carts[shopper])

    parallel(args.threads, fill, list(plan.carts))
    return plan


def fill_cart(commands: Commands, shopper: UUID, address_id: UUID, lines: dict[UUID, int]) -> None:
    """Register the shopper with one delivery address and put the lines in a new cart."""
    ctx = acting(shopper, "shopper")
    commands.customers.register_customer(shopper, "Shopper", "shopper@bench.example", ctx)
    address = {**ADDRESS, "country": "FR"}
    commands.customers.add_address(shopper, address_id, address, ctx, None)
    commands.carts.create_cart(shopper, ctx)
    for product, quantity in lines.items():
        commands.add_to_cart(cart_id_for(shopper), product, quantity, ctx)


@dataclass(frozen=True)
class Call:
    """One check_out call: when it started and returned, and its order (or its error)."""

    shopper: UUID
    order_id: UUID | None
    started: datetime
    returned: datetime
    seconds: float
    error: str | None


def check_out_all(commands: Commands, plan: Plan, threads: int) -> list[Call]:
    """Check out every cart from a pool of threads, as the command API's handlers would."""

    def one(shopper: UUID) -> Call:
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


class Follower:
    """Reads, decodes and keeps every event appended to the logs after the given positions."""

    def __init__(self, env: dict[str, str], names: Sequence[str]) -> None:
        self.logs = {name: ContextLog(env, name) for name in names}
        self.start = {name: context_log.head() for name, context_log in self.logs.items()}
        self.positions = dict(self.start)
        self.events: dict[str, list[Any]] = {name: [] for name in names}

    def poll(self) -> int:
        """Read what is new in every log; return how many events."""
        total = 0
        for name, context_log in self.logs.items():
            while batch := context_log.read(self.positions[name], 1000):
                self.events[name].extend(item.event for item in batch)
                self.positions[name] = batch[-1].position
                total += len(batch)
        return total

    def of(self, name: str, kind: type | tuple[type, ...]) -> list[Any]:
        """The events of one type in one log."""
        return [e for e in self.events[name] if isinstance(e, kind)]

    def close(self) -> None:
        for context_log in self.logs.values():
            context_log.close()


@dataclass
class Settled:
    """What the logs said when the wait ended."""

    done: bool
    confirmed: int
    failed: int
    committed: int
    fulfilments: int
    observed: datetime


def wait_settled(
    follower: Follower, plan: Plan, orders: set[UUID], timeout: float, started: float
) -> Settled:
    """Follow the logs until every order is confirmed (or failed), sold and handed to sellers."""
    lines = sum(len(plan.carts[s]) for s in plan.carts)
    sellers = sum(plan.sellers_in(s) for s in plan.carts)
    deadline = time.monotonic() + timeout
    shown = time.monotonic()
    while True:
        follower.poll()
        confirmed = {e.originator_id for e in follower.of("orders", Order.Confirmed)} & orders
        failed = {e.originator_id for e in follower.of("orders", BAD_ENDS)} & orders
        committed = len(follower.of("inventory", StockItem.ReservationCommitted))
        fulfilments = len(follower.of("orders", Fulfilment.Opened))
        state = Settled(
            len(confirmed) + len(failed) >= len(orders)
            and committed >= lines
            and fulfilments >= sellers,
            len(confirmed),
            len(failed),
            committed,
            fulfilments,
            datetime.now(UTC),
        )
        if state.done or (failed and len(confirmed) + len(failed) >= len(orders)):
            return state
        if time.monotonic() > deadline:
            return state
        if time.monotonic() - shown > 5:
            shown = time.monotonic()
            log(f"  {len(confirmed)}/{len(orders)} confirmed so far", started)
        time.sleep(0.1)


@dataclass(frozen=True)
class Rate:
    """Appends made in some seconds."""

    key: str
    label: str
    events: int
    seconds: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _append_for(append: Callable[[], object], threads: int, seconds: float) -> Rate:
    counts = [0] * threads
    errors = [0] * threads
    stop = threading.Event()

    def loop(i: int) -> None:
        while not stop.is_set():
            try:
                append()
                counts[i] += 1
            except Exception:
                errors[i] += 1

    pool = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join(timeout=30)
    return Rate("", "", sum(counts), time.perf_counter() - began, sum(errors))


def hammer(
    key: str, label: str, append: Callable[[], object], threads: int, seconds: float
) -> Rate:
    """Call append from threads for a second of warm-up, then for seconds; count the calls."""
    _append_for(append, threads, 1.0)
    timed = _append_for(append, threads, seconds)
    return Rate(key, label, timed.events, timed.seconds, timed.errors)


def raw_ours(server_url: str, threads: int, seconds: float) -> list[Rate]:
    """New one-event aggregates (sellers) through Commands.catalog, on a schema of their own:
    from threads, then from one thread (the process manager appends one at a time)."""
    url = fixtures.create_schema(server_url, "raw_ours")
    commands = Commands(eventsourcing_env(Settings(postgres_url=url, log_level="WARNING")))
    try:

        def append() -> None:
            seller = uuid4()
            ctx = acting(seller, "seller")
            commands.catalog.register_seller(seller, "Raw", "raw@bench.example", ctx)

        return [
            hammer("ours", f"ours: new seller, {threads} threads", append, threads, seconds),
            hammer("ours-1", "ours: new seller, 1 thread", append, 1, seconds),
        ]
    finally:
        commands.close()


def raw_library(server_url: str, threads: int, seconds: float) -> Rate:
    """New one-event aggregates through a plain eventsourcing Application, library defaults."""
    from benchmarks.naive_app import Item, ItemsApplication
    from benchmarks.write_path import naive_env

    fixtures.create_schema(server_url, "raw_library")
    app = ItemsApplication(env=naive_env(server_url, "raw_library"))
    try:
        return hammer(
            "library",
            f"library: Application.save, {threads} threads",
            lambda: app.save(Item(ref=uuid4().hex, name="raw", quantity=1)),
            threads,
            seconds,
        )
    finally:
        app.close()


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process, its reaped children and its live children (PostgreSQL's)."""
    if pid is None:
        return 0.0
    tick = float(os.sysconf("SC_CLK_TCK"))
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        own, parent = int(stat.parent.name), int(fields[1])
        if own == pid:
            total += sum(float(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        elif parent == pid:
            total += (float(fields[11]) + float(fields[12])) / tick
    return total


def scrape(base: str) -> dict[str, float]:
    """The worker's Prometheus samples, by name and labels as written."""
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^([^#\s][^\s]*)\s+([-+0-9.eEinfINFNa]+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def gateway_charges(url: str) -> list[dict[str, Any]]:
    """Every authorisation the sandbox holds."""
    import httpx

    response = httpx.get(f"{url}/admin/charges", timeout=10)
    response.raise_for_status()
    body = response.json()
    return list(body["charges"] if isinstance(body, dict) else body)


@dataclass
class Figures:
    """Everything the report prints."""

    args: argparse.Namespace
    plan: Plan
    calls: list[Call]
    follower: Follower
    settled: Settled
    first: datetime
    calls_done: datetime
    cpu: tuple[float, float]
    worker_cpu: float
    own_cpu: float
    postgres_cpu: float
    metrics: dict[str, float]
    raw: list[Rate]
    checks: list[tuple[str, bool]]
    load: str


def order_times(figures: Figures) -> dict[str, list[float]]:
    """Per-order durations in seconds, from the orders' event timestamps.

    An event's timestamp is its command's Context time: the moment the process manager
    (StockReserved, Confirmed) or a payment thread (PaymentAuthorised, before its gateway
    call) took the order up, so the three phases add up to placed -> confirmed.
    """
    stamps: dict[UUID, dict[type, datetime]] = defaultdict(dict)
    for event in figures.follower.events["orders"]:
        if isinstance(event, Order.Event):
            stamps[event.originator_id].setdefault(type(event), event.timestamp)
    returned = {c.order_id: c.returned for c in figures.calls if c.order_id}
    out: dict[str, list[float]] = defaultdict(list)
    for order_id, seen in stamps.items():
        confirmed = seen.get(Order.Confirmed)
        if confirmed is None or Order.Placed not in seen:
            continue
        placed = seen[Order.Placed]
        if order_id in returned:
            out["call returned -> confirmed"].append(
                (confirmed - returned[order_id]).total_seconds()
            )
        out["placed -> confirmed"].append((confirmed - placed).total_seconds())
        reserved = seen.get(Order.StockReserved)
        authorised = seen.get(Order.PaymentAuthorised)
        if reserved and authorised:
            out["  placed -> manager reserves"].append((reserved - placed).total_seconds())
            out["  -> payment thread takes it"].append((authorised - reserved).total_seconds())
            out["  -> manager confirms"].append((confirmed - authorised).total_seconds())
    return out


def writers(follower: Follower) -> dict[str, list[datetime]]:
    """The timestamps of the run's events, by who appended them (the actor in their metadata)."""
    by: dict[str, list[datetime]] = defaultdict(list)
    for name in LOGS:
        for event in follower.events[name]:
            actor = (getattr(event, "meta", None) or {}).get("actor", "")
            by[actor if actor in ("checkout", "payments", "deadlines") else "shoppers"].append(
                event.timestamp
            )
    return by


def span_rate(count: int, stamps: Sequence[datetime], since: datetime | None = None) -> float:
    """count over the seconds from since (or the first stamp) to the last stamp."""
    if not stamps:
        return 0.0
    seconds = (max(stamps) - (since or min(stamps))).total_seconds()
    return count / seconds if seconds > 0 else 0.0


def print_report(figures: Figures) -> None:
    """The table of figures and ratios, then the invariants."""
    args, plan, follower = figures.args, figures.plan, figures.follower
    n = len(plan.carts)
    confirmations = [e.timestamp for e in follower.of("orders", Order.Confirmed)]
    every = [e.timestamp for name in LOGS for e in follower.events[name]]
    wall = (max(confirmations, default=figures.first) - figures.first).total_seconds()
    settle = (max(every, default=figures.first) - figures.first).total_seconds()
    placing = (figures.calls_done - figures.first).total_seconds()
    rate = figures.settled.confirmed / wall if wall > 0 else 0.0
    event_rate = len(every) / settle if settle > 0 else 0.0
    lines = sum(len(c) for c in plan.carts.values())
    hot = sum(1 for c in plan.carts.values() if plan.hot in c)
    hot_text = f"1 hot product in {hot} carts" if hot else "no hot product"
    print()
    print(
        f"Checkout, {os.cpu_count()} CPUs (load average now {figures.load}), PostgreSQL "
        f"fsync=on; {n} shoppers, {lines} order lines ({lines / n:.2f} per order),\n"
        f"{len(plan.products)} products + {hot_text}, {len(plan.sellers)} sellers; "
        f"check_out from {args.threads} threads in this process (no HTTP);\n"
        f"checkout worker (`marketplace checkout`, {args.payment_workers} payment workers) and "
        f"sandbox gateway (`marketplace gateway`) as processes of their own"
    )
    header = f"{'figure':<52}{'rate /s':>10}{'over s':>9}"
    print(header)
    print("-" * len(header))
    rows = [
        ("check_out calls returned (placing only)", n / placing if placing else 0.0, placing),
        ("confirmed orders, end to end (first call..last)", rate, wall),
        ("events appended by the checkout run", event_rate, settle),
    ]
    rows += [(f"raw append, {r.label}", r.per_second, r.seconds) for r in figures.raw]
    for name, value, over in rows:
        print(f"{name:<52}{value:>10.1f}{over:>9.2f}")
    per_log = ", ".join(f"{name} {len(follower.events[name])}" for name in LOGS)
    print(f"  events: {len(every)} ({per_log}); {len(every) / n:.2f} per checkout")
    by = writers(follower)
    cells = [
        f"{who} {len(stamps)} ({len(stamps) / n:.2f}/order, {span_rate(len(stamps), stamps):.0f}/s)"
        for who, stamps in sorted(by.items())
    ]
    print("  by writer (/s over its own first..last event): " + ", ".join(cells))
    busy, total = figures.cpu
    tick = float(os.sysconf("SC_CLK_TCK"))
    if total:
        print(
            f"  CPU while checking out: machine {100 * busy / total:.0f}% busy; "
            f"checkout worker {figures.worker_cpu:.1f} s, PostgreSQL {figures.postgres_cpu:.1f} s, "
            f"this process {figures.own_cpu:.1f} s, of {total / tick:.1f} CPU-s "
            f"(the rest: gateway, OS, other load)"
        )
    print()
    print("Ratios (same run)")
    raw = {r.key: r.per_second for r in figures.raw}
    ours = raw.get("ours", 0.0)
    if ours:
        print(f"  {'confirmed orders/s / raw appends/s (ours)':<52}{rate / ours:8.3f}")
        print(f"  {'checkout events/s / raw appends/s (ours)':<52}{event_rate / ours:8.3f}")
    single = raw.get("ours-1", 0.0)
    manager = by.get("checkout", [])
    if single and manager:
        manager_rate = span_rate(len(manager), manager)
        print(
            f"  {'process manager appends/s / raw appends/s, 1 thread':<52}"
            f"{manager_rate / single:8.3f}"
        )
    library = raw.get("library", 0.0)
    if ours and library:
        print(f"  {'raw appends/s: ours / library':<52}{ours / library:8.2f}")
    print()
    print("Per order, seconds (event timestamps; the indented phases add up to the line above)")
    head = f"{'':<32}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
    print(head)
    calls = [c.seconds for c in figures.calls if c.error is None]
    table = {"check_out call": calls, **order_times(figures)}
    for name, values in table.items():
        marks = [percentile(values, p) for p in (50, 95, 99, 100)]
        print(f"{name:<32}" + "".join(f"{v:8.3f}" for v in marks))
    authorise = 'operation="authorise"'
    count = figures.metrics.get(f"payment_gateway_call_seconds_count{{{authorise}}}", 0.0)
    if count:
        total_s = figures.metrics.get(f"payment_gateway_call_seconds_sum{{{authorise}}}", 0.0)
        print(f"  gateway authorise calls: {count:.0f}, mean {1000 * total_s / count:.1f} ms")
    print()
    print("Invariants")
    for text, ok in figures.checks:
        print(f"  {'ok    ' if ok else 'FAILED'} {text}")


def verify(
    commands: Commands,
    plan: Plan,
    calls: list[Call],
    settled: Settled,
    charges: list[dict[str, Any]],
) -> list[tuple[str, bool]]:
    """Every order confirmed, units sold = units ordered, one gateway charge per order."""
    checks: list[tuple[str, bool]] = []
    errors = [c for c in calls if c.error]
    first = f" (first: {errors[0].error})" if errors else ""
    checks.append((f"check_out calls that raised: {len(errors)}{first}", not errors))
    n = len(plan.carts)
    checks.append(
        (
            f"orders confirmed: {settled.confirmed}/{n}, rejected/failed/expired: {settled.failed}",
            settled.confirmed == n and settled.failed == 0,
        )
    )
    ordered = plan.ordered_units()
    wrong = []
    for product, units in ordered.items():
        item = commands.inventory.load(stock_item_id(product), StockItem)
        if item.sold != units or item.reserved:
            wrong.append((product, units, item.sold, item.reserved))
    checks.append(
        (
            f"units sold = units ordered ({sum(ordered.values())} units, {len(ordered)} products; "
            f"wrong: {len(wrong)}{' e.g. ' + str(wrong[0]) if wrong else ''})",
            not wrong,
        )
    )
    orders = {c.order_id: c.shopper for c in calls if c.order_id}
    by_reference = Counter(str(charge["reference"]) for charge in charges)
    missing = [o for o in orders if by_reference[str(o)] == 0]
    doubled = [o for o in orders if by_reference[str(o)] > 1]
    strangers = set(by_reference) - {str(o) for o in orders}
    amounts = {str(charge["reference"]): int(charge["amount_minor"]) for charge in charges}
    wrong_amount = [
        o for o, s in orders.items() if amounts.get(str(o)) not in (None, plan.total_of(s))
    ]
    checks.append(
        (
            f"gateway charges: {len(charges)} for {len(orders)} orders; without one "
            f"{len(missing)}, with more than one {len(doubled)}, for no order {len(strangers)}, "
            f"wrong amount {len(wrong_amount)}",
            not (missing or doubled or strangers or wrong_amount) and len(charges) == len(orders),
        )
    )
    expected = sum(plan.sellers_in(s) for s in plan.carts)
    checks.append(
        (
            f"fulfilments opened: {settled.fulfilments} (one per order and seller: {expected})",
            settled.fulfilments == expected,
        )
    )
    carts = [commands.carts.load(cart_id_for(s), Cart) for s in plan.carts]
    full = sum(1 for cart in carts if cart.lines)
    checks.append((f"carts still holding lines: {full}", full == 0))
    return checks


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checkout", description=__doc__)
    parser.add_argument("--shoppers", type=int, default=500, help="carts checked out")
    parser.add_argument("--threads", type=int, default=16, help="check_out and append threads")
    parser.add_argument(
        "--payment-workers", type=int, default=8, help="MARKETPLACE_PAYMENT_WORKERS of the worker"
    )
    parser.add_argument("--products", type=int, default=20, help="products with ample stock")
    parser.add_argument(
        "--hot-share",
        type=float,
        default=0.25,
        help="share of carts with the hot product (0: none)",
    )
    parser.add_argument("--sellers", type=int, default=4)
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="per raw-append baseline")
    parser.add_argument("--timeout", type=float, default=120.0, help="wait for confirmations")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not 1 <= args.shoppers <= 100_000 or not 1 <= args.threads <= 128:
        parser.error("--shoppers must be 1..100000 and --threads 1..128")
    if not 1 <= args.payment_workers <= 128:
        parser.error("--payment-workers must be 1..128")
    if args.products < 3 or not 1 <= args.sellers <= args.products:
        parser.error("--products must be at least 3 and --sellers 1..--products")
    if not 0 <= args.hot_share <= 1 or not 1 <= args.raw_seconds <= 60:
        parser.error("--hot-share must be 0..1 and --raw-seconds 1..60")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every invariant holds, 1 otherwise."""
    args = parse_args(argv)
    started = time.monotonic()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        postgres = LocalPostgres(workdir / "postgres", free_port(), durable=True)
        stack.callback(postgres.stop)
        server_url = postgres.start()
        log(f"PostgreSQL (durable) on {server_url}", started)
        url = fixtures.create_schema(server_url, "checkout")
        quiet = {"MARKETPLACE_LOG_LEVEL": "WARNING", "MARKETPLACE_ENVIRONMENT": "development"}
        gateway_port = free_port()
        gateway = stack.enter_context(
            serving(
                [sys.executable, "-m", "marketplace.cli", "gateway", "--port", str(gateway_port)],
                clean_env(quiet),
                gateway_port,
                "/healthz",
                workdir / "gateway.log",
            )
        )
        settings = Settings(postgres_url=url, payment_gateway_url=gateway, log_level="WARNING")
        env = eventsourcing_env(settings)
        commands = Commands(env)
        stack.callback(commands.close)
        plan = build_shop(commands, args, rng)
        lines = sum(len(c) for c in plan.carts.values())
        log(f"shop ready: {len(plan.carts)} carts, {lines} lines; gateway on {gateway}", started)
        metrics_port = free_port()
        worker_env = clean_env(
            {
                **quiet,
                "MARKETPLACE_EVENT_STORE": "postgres",
                "MARKETPLACE_SPLIT_LOGS": "true",
                "MARKETPLACE_POSTGRES_URL": url,
                "MARKETPLACE_PAYMENT_GATEWAY_URL": gateway,
                "MARKETPLACE_PAYMENT_WORKERS": str(args.payment_workers),
            }
        )
        follower = Follower(env, LOGS)
        stack.callback(follower.close)
        worker_command = [
            sys.executable,
            "-m",
            "marketplace.cli",
            "checkout",
            "--metrics-port",
            str(metrics_port),
        ]
        with serving(
            worker_command, worker_env, metrics_port, "/metrics", workdir / "worker.log"
        ) as metrics:
            time.sleep(1.0)  # the worker creates its book and reads the (empty) order log
            before = scrape(metrics)
            cpu_before, own_before = cpu_busy(), time.process_time()
            pg_before = tree_cpu(postgres.pid())
            first = datetime.now(UTC)
            calls = check_out_all(commands, plan, args.threads)
            calls_done = datetime.now(UTC)
            log(f"{len(calls)} check_out calls returned", started)
            orders = {c.order_id for c in calls if c.order_id}
            settled = wait_settled(follower, plan, orders, args.timeout, started)
            cpu_after, own_after = cpu_busy(), time.process_time()
            pg_after = tree_cpu(postgres.pid())
            after = scrape(metrics)
        log(f"checkout worker stopped; settled: {settled.done}", started)
        follower.poll()
        charges = gateway_charges(gateway)
        checks = verify(commands, plan, calls, settled, charges)
        checks.append((f"everything settled within --timeout {args.timeout:.0f} s", settled.done))
        log(f"raw appends, {args.threads} threads, {args.raw_seconds:.0f} s each", started)
        raw = [
            *raw_ours(server_url, args.threads, args.raw_seconds),
            raw_library(server_url, args.threads, args.raw_seconds),
        ]
        for rate in raw:
            checks.append((f"raw append errors ({rate.label}): {rate.errors}", rate.errors == 0))
        delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
        figures = Figures(
            args=args,
            plan=plan,
            calls=calls,
            follower=follower,
            settled=settled,
            first=first,
            calls_done=calls_done,
            cpu=(cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]),
            worker_cpu=delta.get("process_cpu_seconds_total", 0.0),
            own_cpu=own_after - own_before,
            postgres_cpu=pg_after - pg_before,
            metrics=delta,
            raw=raw,
            checks=checks,
            load=", ".join(f"{x:.1f}" for x in os.getloadavg()),
        )
        print_report(figures)
        passed = all(ok for _, ok in checks)
        print(f"Invariants {'hold' if passed else 'FAILED'}.")
    print(f"Total time {time.monotonic() - started:.0f} s.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
