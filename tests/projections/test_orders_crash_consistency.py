"""kill -9 of a real order-history projector, many times mid-stream, never corrupts its tables.

The projector (`marketplace project orders`) follows an orders log that keeps growing while it
is killed and restarted at random points, each one while it is known to be behind the log
(tests.worker_process.kill_mid_stream). Behind the log it takes batches of thousands of
events (each folded per order, staged by COPY and written in a few statements), at the head
small ones; a kill lands in any of them. Once it has caught up, its tables must equal a
replay one event at a time into a fresh schema, row for row.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine
from infra.eventstore import eventsourcing_env, with_search_path
from infra.settings import Settings
from marketplace.order_views import order_history_view
from projections.log import ContextLog
from projections.orders.postgres_view import PostgresOrderHistoryView
from projections.orders.projection import OrderHistoryProjection
from projections.runtime import Worker
from tests.projections.orders_fixture import SHIP_TO, drop_schema, dump, fresh_schema
from tests.worker_process import Kill, WorkerProcess, kill_mid_stream

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILLS = 20
INITIAL_ORDERS = 700
BACKLOG_ORDERS = 40
"""Placed while the projector is down, each restart finding a backlog of new and moved orders."""
BATCH_SIZE = 50
WAIT_SECONDS = 60.0
TABLES = PostgresOrderHistoryView.tables
START = datetime(2025, 3, 1, tzinfo=UTC)
Step = Callable[[Order, Context], None]


def paths(sellers: list[uuid.UUID]) -> list[list[Step]]:
    """What may happen to an order after it is placed, one list of steps per path."""
    pay: list[Step] = [
        lambda o, at: o.reserve_stock(at),
        lambda o, at: o.authorise_payment(f"pay-{o.id}", o.total, at),
    ]
    shipped: list[Step] = [*pay, lambda o, at: o.confirm(at)]
    shipped += [ship(seller) for seller in sellers]
    shipped += [deliver(seller) for seller in sellers]
    shipped += [
        lambda o, at: o.refund(f"r1-{o.id}", Money(1, o.currency), at),
        lambda o, at: o.refund(f"r2-{o.id}", Money(o.captured.minor - 1, o.currency), at),
    ]
    return [
        shipped,
        [*pay, lambda o, at: o.cancel("changed my mind", at), lambda o, at: o.void_payment(at)],
        [lambda o, at: o.reject([o.lines[0].product_id], at)],
        [lambda o, at: o.reserve_stock(at), lambda o, at: o.fail_payment("declined", at)],
        [lambda o, at: o.reserve_stock(at), lambda o, at: o.expire(later(at))],
    ]


def ship(seller: uuid.UUID) -> Step:
    """The seller ships its part of the order, if it has one."""
    return lambda o, at: o.ship(seller, at) if seller in o.lines_by_seller else None


def deliver(seller: uuid.UUID) -> Step:
    """The seller's part of the order is delivered, if it has one."""
    return lambda o, at: o.deliver(seller, at) if seller in o.lines_by_seller else None


def later(ctx: Context) -> Context:
    """The context once an order's fifteen minutes to pay have passed."""
    return replace(ctx, at=ctx.at + timedelta(minutes=20))


class OrderFlow:
    """Orders placed many per append and moved along their paths a step per round; an
    order's step comes as many minutes after it was placed as the order has events."""

    def __init__(self, commands: Commands, rng: random.Random) -> None:
        self.commands = commands
        self.rng = rng
        self.sellers = [uuid.uuid4() for _ in range(3)]
        self.products = [(uuid.uuid4(), self.sellers[n % 3]) for n in range(9)]
        self.paths = paths(self.sellers)
        self.open: list[tuple[Order, list[Step], int]] = []
        self.placed = 0

    def ctx(self, minutes: int) -> Context:
        at = START + timedelta(minutes=minutes)
        return Context(at, str(uuid.UUID(int=0)), "admin", "req", "corr", "cause")

    def place(self, count: int) -> None:
        """Place count orders of one to three lines."""
        made = []
        for _ in range(count):
            customer, self.placed = uuid.uuid4(), self.placed + 1
            lines = [
                OrderLine(product, seller, f"Item {product.hex[:4]}", Money(500, "EUR"), 2)
                for product, seller in self.rng.sample(self.products, self.rng.randint(1, 3))
            ]
            ctx = self.ctx(self.placed)
            order_id = order_id_for(customer, str(self.placed))
            expires = ctx.at + timedelta(minutes=15)
            order = Order.place(order_id, customer, lines, expires, "k", SHIP_TO, ctx)
            made.append(order)
            self.open.append((order, list(self.rng.choice(self.paths)), self.placed))
        self.commands.orders.save(*made)

    def round(self) -> None:
        """Move about half the open orders one step; the rest wait for a later round."""
        moved = []
        for order, steps, placed in self.open:
            if steps and self.rng.random() < 0.5:
                steps.pop(0)(order, self.ctx(placed + order.version))
                moved.append(order)
        self.open = [entry for entry in self.open if entry[1]]
        if moved:
            self.commands.orders.save(*moved)

    def run(self, orders: int) -> None:
        """Place orders and move the open ones, a round per ten placed."""
        for _ in range(0, orders, 10):
            self.place(10)
            self.round()


def position(url: str) -> int:
    """Where the projector's tables are in the orders log (0 before it made them)."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT position FROM projection_positions WHERE view = 'orders'"
            ).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def wait_past(url: str, at: int, projector: WorkerProcess, what: str) -> None:
    """Poll until the projector's tables are past the position."""
    deadline = time.monotonic() + WAIT_SECONDS
    while position(url) <= at:
        if not projector.alive():
            pytest.fail(f"projector exited: {projector.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} in {WAIT_SECONDS}s\n{projector.log()}")
        time.sleep(0.005)


@pytest.fixture
def commands(postgres_url: str) -> Iterator[Commands]:
    commands = Commands(eventsourcing_env(Settings(), postgres_url))
    yield commands
    commands.close()


def test_kill_9_at_random_points_leaves_the_tables_equal_to_a_replay(
    postgres_url: str, postgres_server: str, commands: Commands, tmp_path: Path
) -> None:
    seed = int(os.environ.get("MARKETPLACE_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    flow = OrderFlow(commands, rng)
    flow.run(INITIAL_ORDERS)
    env = {"MARKETPLACE_POSTGRES_URL": postgres_url, "MARKETPLACE_LOG_LEVEL": "WARNING"}
    args = ["project", "orders", "--batch-size", str(BATCH_SIZE)]
    projector = WorkerProcess(args, env, tmp_path / "projector.log")

    def head() -> int:
        return commands.orders.recorder.max_notification_id() or 0

    def checkpoint() -> dict[str, int]:
        return {"orders": position(postgres_url)}

    kills: list[Kill] = []
    try:
        for _ in range(KILLS):
            flow.run(BACKLOG_ORDERS)
            since = checkpoint()
            projector.start()
            kills.append(
                kill_mid_stream(
                    projector,
                    checkpoint,
                    lambda: {"orders": head()},
                    since,
                    progress=rng.randrange(1, BATCH_SIZE),
                    top_up=lambda: flow.run(BACKLOG_ORDERS),
                )
            )
        target = head()
        projector.start()
        wait_past(postgres_url, target - 1, projector, "catch-up")
        assert projector.stop() == 0, projector.log()
    finally:
        if projector.alive():
            projector.kill()

    schema = fresh_schema(postgres_server)
    replay_url = with_search_path(postgres_server, schema)
    replayed = order_history_view(replay_url)
    env = eventsourcing_env(Settings(), postgres_url)
    orders_log, customers_log = ContextLog(env, "orders"), ContextLog(env, "customers")
    try:
        replay = Worker(
            OrderHistoryProjection(), replayed, [orders_log, customers_log], batch_size=1
        )
        replay.catch_up()
        assert dump(postgres_url, *TABLES, "projection_positions") == dump(
            replay_url, *TABLES, "projection_positions"
        )
    finally:
        orders_log.close()
        customers_log.close()
        replayed.close()
        drop_schema(postgres_server, schema)
    top_ups = sum(k.top_ups for k in kills)
    print(f"{len(kills)} kills, each behind the log ({top_ups} top-ups); {head()} events")
    assert len(kills) == KILLS
    assert all(kill.mid_stream for kill in kills), "every kill lands while the projector has work"
