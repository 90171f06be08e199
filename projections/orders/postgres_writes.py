"""The order-history view's writes (tables in projections.orders.tables), guarded by versions.

Events other than Placed carry no customer id (the tables' partition key): writes find it
through `order_customers` and `order_fulfilments`.

Each write of a batch and the batch's position commit in one transaction (PostgresView): the
batch's changes are folded per order in memory (projections.orders.fold), staged by binary
COPY into temporary tables and written from them in a few statements (projections.orders
.staging). A row ignores any event at or below the version it holds, so applying an event
twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads

from domain.personal import ADDRESS_LINES, ERASED
from projections.orders import fold, rows, staging
from projections.orders.projection import PlacedOrder
from projections.stores.postgres.unit import Columns, PostgresUnit

CUSTOMER = sql.SQL("(SELECT customer_id FROM order_customers WHERE order_id = %(order)s)")
"""The customer of the order named by the %(order)s parameter (its rows' partition key)."""

OPEN_FULFILMENTS = """
INSERT INTO order_fulfilments (fulfilment_id, customer_id, order_id, seller_id)
SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::uuid[])
ON CONFLICT DO NOTHING
"""
ORDERS = """
SELECT o.customer_id, o.order_id, o.version, o.status, cardinality(o.seller_ids) AS sellers,
    o.shipped_sellers, o.delivered_sellers, o.captured_minor, o.refunded_minor
FROM order_customers AS c JOIN orders AS o
    ON o.customer_id = c.customer_id AND o.order_id = c.order_id
WHERE c.order_id = ANY(%b)
"""
"""rows.READ_COLUMNS of the orders named."""
LABEL_LINES = """
UPDATE seller_order_lines AS l
SET label_blob_key = d.blob_key, label_content_type = d.content_type,
    fulfilment_version = d.version
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::integer[])
        AS d(fulfilment_id, blob_key, content_type, version)
    JOIN order_fulfilments AS f ON f.fulfilment_id = d.fulfilment_id
WHERE l.customer_id = f.customer_id AND l.order_id = f.order_id AND l.seller_id = f.seller_id
    AND l.fulfilment_version < d.version
"""
"""The latest label of each fulfilment, on its seller's lines whose label is older."""

ERASE_SHIP_TO = """
UPDATE orders SET ship_to = ship_to || %b::jsonb WHERE customer_id = ANY(%b)
"""
"""The erased placeholder over the personal parts of the customers' delivery addresses."""
ERASED_ADDRESS = {line: ERASED for line in ADDRESS_LINES}

FIELDS = frozenset({"status", *rows.SET_COLUMNS})


class PostgresOrderHistoryUnit(PostgresUnit):
    """One batch's order-history writes, collected per order in log order, written at the end.

    flush() folds each order's changes into its row once (projections.orders.fold: each
    change only above the row's version, so an event applied twice changes nothing). The
    orders placed in the batch are inserted as the batch leaves them, with their routes and
    lines, in one statement (nothing where an order exists); then the fulfilments. The rows
    of the other orders the batch changes (and of any placed order that existed) are read in
    one statement, and the changed ones written back with their lines in another; the labels
    last.
    """

    def __init__(self, view: str, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        super().__init__(view, cursor)
        self.placed: dict[UUID, PlacedOrder] = {}
        self.opened = Columns(4)
        self.changes: dict[UUID, list[fold.Change]] = {}
        self.labels: dict[UUID, tuple[int, str, str]] = {}
        self.erased: set[UUID] = set()
        self.staged = False

    def place_order(self, order: PlacedOrder) -> None:
        """Insert the order, its route and its lines (nothing if they exist)."""
        self.placed.setdefault(order.order_id, order)

    def _change(self, order_id: UUID, change: fold.Change) -> None:
        changes = self.changes.get(order_id)
        if changes is None:
            self.changes[order_id] = [change]
        else:
            changes.append(change)

    def change_order(self, order_id: UUID, version: int, at: datetime, **fields: Any) -> None:
        """Set some of an order's fields; a new status is copied to its lines."""
        if not FIELDS.issuperset(fields):
            raise ValueError(f"not an order field: {sorted(set(fields) - FIELDS)}")
        self._change(order_id, (version, at, rows.set_fields(fields), "status" in fields))

    def ship_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Add the seller to the shipped ones; shipped once every seller has shipped."""
        self._change(order_id, (version, at, rows.ship(seller_id), ("shipped_at", seller_id)))

    def deliver_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Add the seller to the delivered ones; delivered once every seller's part is."""
        self._change(order_id, (version, at, rows.deliver(seller_id), ("delivered_at", seller_id)))

    def capture_payment(
        self, order_id: UUID, amount_minor: int, version: int, at: datetime
    ) -> None:
        """Add a captured amount."""
        self._change(order_id, (version, at, rows.capture(amount_minor), False))

    def refund_payment(self, order_id: UUID, amount_minor: int, version: int, at: datetime) -> None:
        """Add a refunded amount; refunded once it reaches what was captured."""
        self._change(order_id, (version, at, rows.refund(amount_minor), False))

    def open_fulfilment(
        self, fulfilment_id: UUID, order_id: UUID, seller_id: UUID, customer_id: UUID
    ) -> None:
        """Remember the fulfilment's order, seller and customer."""
        self.opened.add(fulfilment_id, customer_id, order_id, seller_id)

    def attach_label(
        self, fulfilment_id: UUID, blob_key: str, content_type: str, version: int
    ) -> None:
        """Set the label on every line of the fulfilment's seller in its order."""
        known = self.labels.get(fulfilment_id)
        if known is None or known[0] < version:
            self.labels[fulfilment_id] = (version, blob_key, content_type)

    def erase_customer(self, customer_id: UUID) -> None:
        """Put the placeholder over the customer's delivery addresses, after the batch's other
        writes (an order placed earlier in the batch included)."""
        self.erased.add(customer_id)

    def flush(self) -> None:
        """Write what the batch collected."""
        changes = self.changes
        if self.placed:
            existed = self._place()
            changes = {
                order_id: changed
                for order_id, changed in changes.items()
                if order_id not in self.placed or order_id in existed
            }
        if self.opened:
            self.cursor.execute(OPEN_FULFILMENTS, self.opened.columns)
        if changes:
            self._change_orders(changes)
        if self.labels:
            labels = Columns(4)
            for fulfilment_id, (version, blob_key, content_type) in self.labels.items():
                labels.add(fulfilment_id, blob_key, content_type, version)
            self.cursor.execute(LABEL_LINES, labels.columns)
        if self.erased:
            self.cursor.execute(ERASE_SHIP_TO, (Jsonb(ERASED_ADDRESS), list(self.erased)))

    def _place(self) -> set[Any]:
        """Insert the placed orders with their changes of the batch folded in; those that
        existed (their changes are still to be applied to the rows they have)."""
        self._stage()
        with self.cursor.copy(staging.COPY_PLACED) as copy:
            copy.set_types(staging.types(staging.PLACED))
            for order_id, order in self.placed.items():
                row, lines = fold.placed_row(order), fold.placed_lines(order)
                fold.fold(row, self.changes.get(order_id, []), lines)
                copy.write_row(staging.placed_record(order, row, lines))
        return {row[0] for row in self.cursor.execute(staging.PLACE).fetchall()}

    def _change_orders(self, changes: dict[UUID, list[fold.Change]]) -> None:
        found = self._read(list(changes))
        written = 0
        self._stage()
        with self.cursor.copy(staging.COPY_CHANGED) as copy:
            copy.set_types(staging.types(staging.CHANGED))
            for order_id, order_changes in changes.items():
                row = found.get(order_id)
                if row is None:
                    continue
                changed, lines = fold.fold(row, order_changes)
                if changed:
                    copy.write_row(staging.changed_record(row, lines))
                    written += 1
        if written:
            self.cursor.execute(staging.WRITE)

    def _stage(self) -> None:
        """Create the session's staging tables, if this unit has not."""
        if not self.staged:
            self.cursor.execute(staging.STAGE)
            self.staged = True

    def _read(self, ids: list[Any]) -> dict[Any, rows.Row]:
        """The rows of these orders."""
        with self.cursor.connection.cursor(row_factory=dict_row, binary=True) as cursor:
            set_json_loads(orjson.loads, cursor)
            return {row["order_id"]: row for row in cursor.execute(ORDERS, (ids,)).fetchall()}
