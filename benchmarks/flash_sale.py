"""The flash-sale proof: thousands of buyers at once for a hundred units of one product.

Run `python -m benchmarks.flash_sale [--buyers 2000] [--units 100]`.
For each write path, naive first (benchmarks.naive_write: plain optimistic concurrency with
retries, no sold-out fast path, injected by benchmarks.naive_stack into the command API and
the checkout worker) and then batched (production: changes of one stock item batched into
one append, the sold-out fast path on), one run starts its own
`marketplace up` (2 command-API and 2 query-API processes, the checkout worker, the
projectors, the sandbox gateway) in a scratch folder, prepares one product with --units units
and --buyers shoppers, each with that product in the cart, and then has every buyer check out
at the same moment over HTTP (retrying as asked after Retry-After, same Idempotency-Key).

A buyer is answered when it knows whether it got a unit: at once, by a 409 sold-out, or when
its order's StockReserved or Rejected event is seen in the log (followed every 20 ms). The
time to answer runs from the buyer's first request. The run then waits until the reserved
orders are paid and their units sold. Invariants (exit status 1 if one fails): every buyer
answered, exactly --units units sold, none held, the stock never oversold, one order per buyer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import uvloop

from benchmarks.checkout import Follower, acting, fill_cart, log, parallel, percentile
from benchmarks.raw_http import Reply, post
from benchmarks.stack import RunningStack, marketplace_up
from benchmarks.verdict import Verdict, ratio, show_ratio
from commands.base import ContextApplication
from commands.services import Commands
from domain.cart import cart_id_for
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from domain.order import Order
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, Settings
from marketplace.bootstrap import token_codec
from marketplace.redis_views import cart_view, product_detail_view
from projections.stores.redis.unit import RedisView

MODES = ("naive", "batched")
LAUNCHERS = {"naive": (), "batched": ("--production",)}
"""How benchmarks.naive_stack runs `up` for each write path (its processes get 180 s to be
ready, where `marketplace up` gives 60: too few on a busy shared machine)."""
DECISIONS = (Order.StockReserved, Order.Rejected)
SERVED = frozenset({"reserved", "rejected", "sold-out"})
"""Outcomes that tell a buyer whether it got a unit."""
PREPARE_THREADS = 16


@dataclass
class Shop:
    """The hot product, its seller, each buyer's delivery address and cart version (If-Match)."""

    product: UUID
    seller: UUID
    buyers: dict[UUID, UUID] = field(default_factory=dict)
    carts: dict[UUID, int] = field(default_factory=dict)


def prepare(commands: Commands, buyers: int, units: int) -> Shop:
    """One seller, one product with units in stock, buyers with the product in their carts."""
    shop = Shop(uuid4(), uuid4())
    ctx = acting(shop.seller, "seller")
    commands.catalog.register_seller(shop.seller, "Flash seller", "flash@bench.example", ctx)
    price = Money(4999, "EUR")
    commands.catalog.list_product(shop.product, shop.seller, "Console", "", "games", {}, price, ctx)
    commands.receive_stock(shop.product, units, ctx)
    shop.buyers = {uuid4(): uuid4() for _ in range(buyers)}

    def fill(buyer: UUID) -> None:
        shop.carts[buyer] = fill_cart(commands, buyer, shop.buyers[buyer], {shop.product: 1})

    parallel(PREPARE_THREADS, fill, list(shop.buyers))
    return shop


@dataclass
class Answer:
    """What one buyer was told, and when (seconds after its first request)."""

    buyer: UUID
    outcome: str
    order_id: UUID | None = None
    started: float = 0.0
    replied: float | None = None
    answered: float | None = None
    retries: int = 0
    asked_by: Counter[int] = field(default_factory=Counter)
    """The statuses that asked for the retries."""


class Decisions:
    """Follows the orders log on a thread and notes when each order's stock was decided."""

    def __init__(self, env: dict[str, str]) -> None:
        self.follower = Follower(env, ["orders"])
        self.seen: dict[UUID, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        done = 0
        while not self._stop.wait(0.02):
            self.follower.poll()
            events = self.follower.events["orders"]
            now = time.perf_counter()
            for event in events[done:]:
                if isinstance(event, DECISIONS):
                    kind = "reserved" if isinstance(event, Order.StockReserved) else "rejected"
                    self.seen.setdefault(event.originator_id, (now, kind))
            done = len(events)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.follower.close()


def asked_to_retry(reply: Reply) -> bool:
    """A 429 or 503, or a 409 saying the key's first request still runs: each with Retry-After."""
    in_progress = str(reply.body.get("type", "")).endswith("idempotency-in-progress")
    return reply.status in (429, 503) or (reply.status == 409 and in_progress)


async def rush(stack: RunningStack, shop: Shop, tokens: dict[UUID, str]) -> list[Answer]:
    """Every buyer checks out at once; retried as asked (asked_to_retry), same key."""
    go = asyncio.Event()

    async def buy(buyer: UUID) -> Answer:
        await go.wait()
        answer = Answer(buyer, "error", started=time.perf_counter())
        headers = {"Authorization": f"Bearer {tokens[buyer]}", "Idempotency-Key": "flash"}
        headers["If-Match"] = f'"{shop.carts[buyer]}"'
        body = {"address_id": str(shop.buyers[buyer])}
        path = f"/v1/carts/{cart_id_for(buyer)}/checkout"
        while True:
            try:
                reply = await asyncio.wait_for(post(stack.write_url, path, body, headers), 60)
            except (OSError, TimeoutError, ValueError) as error:
                answer.outcome = f"error {type(error).__name__}"
                return answer
            if asked_to_retry(reply) and answer.retries < 100:
                answer.retries += 1
                answer.asked_by[reply.status] += 1
                wait = float(reply.headers.get("retry-after", "1"))
                await asyncio.sleep(wait * random.uniform(0.5, 1.5))
                continue
            break
        answer.replied = time.perf_counter()
        if reply.status == 202:
            answer.outcome, answer.order_id = "placed", UUID(reply.body["order_id"])
        elif reply.status == 409 and str(reply.body.get("type", "")).endswith("sold-out"):
            answer.outcome, answer.answered = "sold-out", answer.replied
        else:
            answer.outcome = f"error {reply.status}"
        return answer

    tasks = [asyncio.create_task(buy(buyer)) for buyer in shop.buyers]
    await asyncio.sleep(0.5)
    go.set()
    return list(await asyncio.gather(*tasks))


@dataclass
class Run:
    """One write path's figures and invariant checks."""

    mode: str
    answers: list[Answer]
    seconds: float
    sold: int
    held: int
    checks: list[tuple[str, bool]]

    def latencies(self) -> list[float]:
        return [a.answered - a.started for a in self.answers if a.answered is not None]

    def latencies_by_outcome(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for a in self.answers:
            if a.answered is not None:
                found.setdefault(a.outcome, []).append(a.answered - a.started)
        return found

    def replies(self) -> list[float]:
        return [a.replied - a.started for a in self.answers if a.replied is not None]

    def last_answer(self) -> float:
        return max(self.latencies(), default=0.0)

    def verdict(self) -> Verdict:
        """Served: a buyer told whether it got a unit (reserved, rejected or 409 sold-out)."""
        served = sum(1 for a in self.answers if a.answered is not None and a.outcome in SERVED)
        return Verdict(len(self.answers), served, self.seconds)

    def p99(self) -> float | None:
        """The p99 time to answer, or None when the run failed the shared rule."""
        return None if self.verdict().failed else percentile(self.latencies(), 99)


def wait_projected(
    stack: RunningStack, settings: Settings, commands: Commands, timeout: float = 120.0
) -> None:
    """Until the stock and every cart prepare made show in their views (a buyer's If-Match
    names its cart as the view shows it)."""
    watched: list[tuple[RedisView[Any], ContextApplication]] = [
        (product_detail_view(settings, stack.redis_url), commands.inventory),
        (cart_view(settings, stack.redis_url), commands.carts),
    ]
    heads = [(view, app.log_name, app.recorder.max_notification_id() or 0) for view, app in watched]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and any(
            view.positions().get(log, 0) < head for view, log, head in heads
        ):
            time.sleep(0.2)
    finally:
        for view, _ in watched:
            view.client.close()


def settle(commands: Commands, shop: Shop, units: int, timeout: float) -> StockItem:
    """Wait until the reserved orders are paid and their units sold (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        item = commands.inventory.load(stock_item_id(shop.product), StockItem)
        if (item.sold >= units and not item.reserved) or time.monotonic() > deadline:
            return item
        time.sleep(0.2)


def run_mode(mode: str, args: argparse.Namespace, workdir: Path, started: float) -> Run:
    """One stack on one write path: prepare, rush, wait for answers and sales, check."""
    extra = {
        "MARKETPLACE_RATE_LIMITS_ENABLED": "false",
        "MARKETPLACE_MAX_REQUESTS_IN_FLIGHT": str(args.max_in_flight),
        "MARKETPLACE_SNAPSHOT_EVERY": str(args.snapshot_every),
    }
    launcher = "benchmarks.naive_stack"
    with marketplace_up(
        workdir / mode, extra, launcher=launcher, launcher_args=LAUNCHERS[mode]
    ) as stack:
        settings = Settings(log_level="WARNING", postgres=PostgresSettings(url=stack.postgres_url))
        env = eventsourcing_env(settings)
        commands = Commands(env)
        try:
            shop = prepare(commands, args.buyers, args.units)
            codec = token_codec(settings.auth)
            tokens = {b: codec.issue(b, "shopper") for b in shop.buyers}
            log(f"{mode}: {args.buyers} buyers ready for {args.units} units", started)
            wait_projected(stack, settings, commands)
            decisions = Decisions(env)
            try:
                began = time.perf_counter()
                answers = uvloop.run(rush(stack, shop, tokens))
                deadline = time.monotonic() + args.timeout
                placed = [a for a in answers if a.order_id is not None]
                while time.monotonic() < deadline and any(
                    a.order_id not in decisions.seen for a in placed
                ):
                    time.sleep(0.05)
                seconds = time.perf_counter() - began
            finally:
                decisions.close()
            for answer in placed:
                seen = decisions.seen.get(answer.order_id)  # type: ignore[arg-type]
                if seen is not None:
                    answer.answered, answer.outcome = seen
            log(f"{mode}: every buyer answered after {seconds:.1f} s; settling sales", started)
            item = settle(commands, shop, args.units, args.timeout)
            run = Run(mode, answers, seconds, item.sold, item.reserved, [])
            run.checks = check(run, args, decisions)
        finally:
            commands.close()
    return run


def check(run: Run, args: argparse.Namespace, decisions: Decisions) -> list[tuple[str, bool]]:
    """The invariants of one run."""
    unanswered = [a for a in run.answers if a.answered is None]
    orders = [a.order_id for a in run.answers if a.order_id]
    reserved = Counter(kind for _, kind in decisions.seen.values())
    return [
        (
            f"{run.mode}: buyers answered {len(run.answers) - len(unanswered)}/{args.buyers}"
            + (f" (first unanswered: {unanswered[0].outcome})" if unanswered else ""),
            not unanswered,
        ),
        (
            f"{run.mode}: units sold {run.sold}/{args.units}, still held {run.held}",
            run.sold == args.units and run.held == 0,
        ),
        (
            f"{run.mode}: orders granted a unit {reserved['reserved']} (at most {args.units})",
            reserved["reserved"] <= args.units,
        ),
        (
            f"{run.mode}: one order per buyer ({len(set(orders))} orders, {len(orders)} placed)",
            len(set(orders)) == len(orders),
        ),
    ]


def describe(run: Run) -> list[str]:
    """The figures of one run, one line each."""
    times = run.latencies()
    outcomes = Counter(a.outcome for a in run.answers)
    retries = sum(a.retries for a in run.answers)
    asked_by = sum((a.asked_by for a in run.answers), Counter[int]())
    by = ", ".join(f"{n} by {status}" for status, n in sorted(asked_by.items()))
    verdict = run.verdict()
    if verdict.failed:
        return [
            f"{run.mode:8} answers: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
            f"{'':8} {verdict.describe()}: no figure",
        ]
    return [
        f"{run.mode:8} answers: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
        f"{'':8} time to answer p50 {percentile(times, 50) * 1000:7.0f} ms, "
        f"p99 {percentile(times, 99) * 1000:7.0f} ms, last {run.last_answer():5.2f} s; "
        f"retries asked for {retries} ({by or 'none'})",
        f"{'':8} HTTP reply p50 {percentile(run.replies(), 50) * 1000:7.0f} ms, "
        f"p99 {percentile(run.replies(), 99) * 1000:7.0f} ms",
        f"{'':8} time to answer p50 / p99 by outcome: "
        + "; ".join(
            f"{kind} {percentile(ts, 50) * 1000:.0f} / {percentile(ts, 99) * 1000:.0f} ms"
            for kind, ts in sorted(run.latencies_by_outcome().items())
        ),
    ]


def print_report(runs: list[Run], args: argparse.Namespace) -> None:
    """The runs side by side, and the ratios of naive to batched."""
    print(f"\nFlash sale: {args.buyers} buyers at once for {args.units} units of one product")
    print(f"(2 command-API processes, max {args.max_in_flight} requests in flight each)\n")
    for run in runs:
        print("\n".join(describe(run)))
    for run in runs:
        for text, ok in run.checks:
            print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    if len(runs) < len(MODES):
        return
    naive, batched = runs
    p99 = batched.p99()
    print(
        f"\nnaive / batched p99 time to answer: {show_ratio(ratio(naive.p99(), p99), 1)} "
        f"(goal >= 10x); batched p99 " + ("FAILED" if p99 is None else f"{p99:.3f} s (goal < 1 s)")
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flash_sale", description=__doc__)
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--max-in-flight", type=int, default=200, help="per API process")
    parser.add_argument("--timeout", type=float, default=180.0, help="for answers, then sales")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--snapshot-every", type=int, default=500, help="stock item and cart snapshots (0: off)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.units <= args.buyers <= 10_000:
        parser.error("need 1 <= --units <= --buyers <= 10000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Both runs; 0 when every invariant holds in both."""
    args = parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-flash-") as tmp:
        runs = [run_mode(mode, args, Path(tmp), started) for mode in args.modes]
    print_report(runs, args)
    passed = all(ok for run in runs for _, ok in run.checks)
    total = time.monotonic() - started
    print(f"Invariants {'hold' if passed else 'FAILED'}. Total time {total:.0f} s.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
