"""Orders for the benchmarks, appended in bulk: the recorder's exact rows, written with COPY.

Every order takes the steps benchmarks.rebuild_workload's orders take (placed with one to
three catalogue lines, stock reserved, payment authorised, confirmed, then a tenth cancelled
and the rest shipped, each step a minute after the last), step after step over all orders,
so an order's events are spread over the log as there. Only a prototype per shape (lines,
cancelled or shipped) goes through the domain and the application's mapper; every order's
stored events are its prototype's with the order's ids, times, titles and amounts put in, in
one pass, and are copied (COPY) into the orders log's table in one transaction. COPY passes
by the recorder's append, so these events get no links in the log's audit hash chain
(infra.audit): the log serves reads, replays and benchmarks, not `marketplace audit verify`.
(Through the recorder, `insert_events` of 10,000-event chunks hung in the pipeline's sync
with the server idle, on the loaded development machine.) The first order of each shape is
also built through the domain and its rows must equal the spliced ones byte for byte: the
format is the mapper's by construction, and checked.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import Mapper
from psycopg import sql

from commands.orders import OrdersApplication
from domain.base import Context, event_id
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine
from infra.postgres_recorder import ArrayInsertPostgresRecorder

STEPS = 4
"""Steps after placing: reserve, authorise, confirm, cancel or ship."""
ADMIN = uuid.UUID(int=0)
SHIP_TO = {"name": "A", "line1": "1 Road", "line2": "", "city": "Lyon", "postal_code": "1"}
SHIP_TO |= {"country": "FR"}
COPY = "COPY {}.{} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"


@dataclass(frozen=True)
class Spec:
    """One order: its customer, number (its idempotency key), lines and minutes from start."""

    customer: uuid.UUID
    number: int
    lines: tuple[OrderLine, ...]
    minutes: int
    order_id: uuid.UUID = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order_id", order_id_for(self.customer, str(self.number)))

    @property
    def cancelled(self) -> bool:
        return self.order_id.int % 10 == 0


class Marks(dict[str, str]):
    """Each value of an order as its events' JSON spells it, by name, made when first asked
    for (a step's events need a few of them)."""

    def __init__(self, spec: Spec, start: datetime) -> None:
        super().__init__()
        self.spec, self.at = spec, start + timedelta(minutes=spec.minutes)

    def __missing__(self, name: str) -> str:
        self[name] = value = self.spelt(name)
        return value

    def spelt(self, name: str) -> str:
        """The value called name."""
        spec, kind, n = self.spec, name.rstrip("0123456789"), int(name[-1])
        line = spec.lines[n] if kind in ("product", "seller", "title", "price") else spec.lines[0]
        spellings = {
            "order": lambda: str(spec.order_id),
            "customer": lambda: str(spec.customer),
            "customer_hex": lambda: spec.customer.hex,
            "key": lambda: f'"idempotency_key":"{spec.number}"',
            "expires": lambda: (self.at + timedelta(minutes=15)).isoformat(),
            "total": lambda: f'"amount_minor":{sum(x.unit_price.minor for x in spec.lines)},',
            "at": lambda: (self.at + timedelta(minutes=n)).isoformat(),
            "event": lambda: str(event_id(spec.order_id, n)),
            "product": lambda: line.product_id.hex,
            "seller": lambda: line.seller_id.hex,
            "title": lambda: f'"title":"{line.title}"',
            "price": lambda: f'"unit_price":{{"minor":{line.unit_price.minor},',
        }
        return spellings[kind]()

    def every(self) -> dict[str, str]:
        """All of them."""
        names = ["order0", "customer0", "customer_hex0", "key0", "expires0", "total0"]
        names += [f"at{step}" for step in range(STEPS + 1)]
        names += [f"event{version}" for version in range(STEPS + 2)]
        names += [f"{kind}{n}" for n in range(len(self.spec.lines)) for kind in LINE_MARKS]
        return {name: self[name] for name in names}


LINE_MARKS = ("product", "seller", "title", "price")


def built(spec: Spec, start: datetime, mapper: Mapper) -> list[list[tuple[int, str, bytes]]]:
    """The order's events through the domain and the mapper, step by step: (version, topic,
    state) each."""
    at = start + timedelta(minutes=spec.minutes)
    expires = at + timedelta(minutes=15)

    def ctx(step: int) -> Context:
        actor, role = (spec.customer, "shopper") if step == 0 else (ADMIN, "admin")
        return Context(at + timedelta(minutes=step), str(actor), role, "bench", "bench", "bench")

    order = Order.place(
        spec.order_id, spec.customer, list(spec.lines), expires, str(spec.number), SHIP_TO, ctx(0)
    )
    steps: list[Any] = [
        lambda: order.reserve_stock(ctx(1)),
        lambda: order.authorise_payment(f"pay-{order.id}", order.total, ctx(2)),
        lambda: order.confirm(ctx(3)),
        lambda: (
            order.cancel("changed my mind", ctx(4))
            if spec.cancelled
            else order.ship(spec.lines[0].seller_id, ctx(4))
        ),
    ]
    phases = [order.collect_events()]
    for step in steps:
        step()
        phases.append(order.collect_events())
    rows = [[mapper.to_stored_event(event) for event in phase] for phase in phases]
    return [
        [(int(row.originator_version), row.topic, row.state) for row in phase] for phase in rows
    ]


class Prototype:
    """An order's events cut at its values: literal text, then the name of a value, in turn."""

    def __init__(self, spec: Spec, start: datetime, mapper: Mapper) -> None:
        names = {value: name for name, value in Marks(spec, start).every().items()}
        ordered = sorted(names, key=len, reverse=True)
        pattern = re.compile("(" + "|".join(re.escape(value) for value in ordered) + ")")

        def cut(state: bytes) -> list[str]:
            pieces = pattern.split(state.decode())
            return [names[p] if n % 2 else p for n, p in enumerate(pieces)]

        self.phases = [
            [(version, topic, cut(state)) for version, topic, state in phase]
            for phase in built(spec, start, mapper)
        ]

    def phase(self, step: int, marks: Marks) -> Iterator[tuple[int, str, bytes]]:
        """Another order's events of one step, its values put in."""
        for version, topic, pieces in self.phases[step]:
            text = "".join([marks[p] if n % 2 else p for n, p in enumerate(pieces)])
            yield version, topic, text.encode()


def prototype_spec(lines: int, cancelled: bool) -> Spec:
    """A prototype's order: values no real one has, so each is found where it is."""
    while True:
        customer = uuid.uuid4()
        chosen = tuple(
            OrderLine(
                uuid.uuid4(), uuid.uuid4(), f"prototype-{n}", Money(7_770_001 + n * 1013, "EUR"), 1
            )
            for n in range(lines)
        )
        spec = Spec(customer, 990_000_001, chosen, 1_000_003)
        if spec.cancelled == cancelled:
            return spec


def order_specs(lines: list[OrderLine], orders: int, seed: int) -> list[Spec]:
    """Seeded orders of 1 to 3 of the lines each, placed over a week."""
    rng = random.Random(seed)
    return [
        Spec(
            uuid.UUID(int=rng.getrandbits(128), version=4),
            n,
            tuple(rng.sample(lines, rng.randint(1, 3))),
            rng.randint(0, 60 * 24 * 7),
        )
        for n in range(orders)
    ]


def append_orders(
    app: OrdersApplication, lines: list[OrderLine], orders: int, seed: int, start: datetime
) -> int:
    """Append orders to the app's log in bulk, in one transaction; how many events.

    AssertionError, and nothing appended, if the first order of a shape differs from the
    same order built through the domain and the mapper.
    """
    specs = order_specs(lines, orders, seed)
    shapes = {
        (n, cancelled): Prototype(prototype_spec(n, cancelled), start, app.mapper)
        for n in (1, 2, 3)
        for cancelled in (False, True)
    }
    first = {(len(spec.lines), spec.cancelled): spec for spec in reversed(specs)}
    checks = {id(spec): built(spec, start, app.mapper) for spec in first.values()}
    recorder = app.recorder
    assert isinstance(recorder, ArrayInsertPostgresRecorder)
    statement = sql.SQL(COPY).format(
        sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name)
    )
    id_type = recorder.datastore.originator_id_type
    written = 0
    with recorder.datastore.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        for step in range(STEPS + 1):
            with cur.copy(statement) as copy:
                copy.set_types([id_type, "int8", "text", "bytea"])
                for spec in specs:
                    shape = shapes[(len(spec.lines), spec.cancelled)]
                    rows = list(shape.phase(step, Marks(spec, start)))
                    if id(spec) in checks and rows != checks[id(spec)][step]:
                        raise AssertionError(f"bulk rows differ from the recorder's: {spec}")
                    for version, topic, state in rows:
                        copy.write_row((spec.order_id, version, topic, state))
                    written += len(rows)
    return written
