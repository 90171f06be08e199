"""`marketplace labels` as a user runs it: opened fulfilments get their PDF label, once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from commands.services import Commands
from domain.order import Order
from infra.blobs import LocalBlobStore
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from tests.projections.mail_shop import SHIP_TO, MailShop, admin
from tests.worker_process import WorkerProcess
from workers.labels import label_key

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

WAIT_SECONDS = 30.0
ACME_DEPOT = {
    "name": "Acme Depot",
    "line1": "9 Rue du Port",
    "line2": "",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}


@pytest.fixture
def commands(postgres_url: str) -> Iterator[Commands]:
    commands = Commands(eventsourcing_env(Settings(), postgres_url))
    yield commands
    commands.close()


@pytest.fixture
def labels(postgres_url: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_DATA_DIR": str(tmp_path / "data"),
        "MARKETPLACE_BLOB_DIR": str(tmp_path / "blobs"),
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }
    process = WorkerProcess(["labels", "--batch-size", "2"], env, tmp_path / "labels.log")
    yield process
    if process.alive():
        process.kill()


def open_fulfilments(
    shop: MailShop, order: Order, ship_from: dict[uuid.UUID, dict[str, str] | None]
) -> None:
    for seller, address in ship_from.items():
        shop.commands.orders.open_fulfilment(order, seller, address, admin())


def wait_until(condition: object, process: WorkerProcess, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():  # type: ignore[operator]
        if not process.alive():
            pytest.fail(f"labels exited: {process.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached after {WAIT_SECONDS}s\n{process.log()}")
        time.sleep(0.05)


def labelled(commands: Commands, order: Order, sellers: list[uuid.UUID]) -> bool:
    return all(commands.orders.fulfilment(order.id, s).label is not None for s in sellers)


def snapshot(root: Path) -> dict[Path, tuple[bytes, int]]:
    """Every file under root: its bytes and modification time."""
    files = (path for path in root.rglob("*") if path.is_file())
    return {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in files}


def position(postgres_url: str) -> int:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT position FROM projection_positions WHERE view = 'labels' AND log = 'orders'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_each_opened_fulfilment_gets_its_pdf_label_and_a_replay_changes_nothing(
    postgres_url: str, commands: Commands, labels: WorkerProcess, tmp_path: Path
) -> None:
    shop = MailShop(commands)
    ada = shop.customer("Ada")
    acme, bolt = shop.seller("Acme", address=ACME_DEPOT), shop.seller("Bolt")
    first = shop.place(ada, [(acme, "Teapot", 1500, 2), (bolt, "Kettle", 4000, 1)])
    shop.confirm(first)
    open_fulfilments(shop, first, {acme: ACME_DEPOT, bolt: None})
    labels.start()
    second = shop.place(ada, [(bolt, "Cup", 250, 4)])
    shop.confirm(second)
    open_fulfilments(shop, second, {bolt: None})

    wait_until(lambda: labelled(commands, first, [acme, bolt]), labels, "labels of the first")
    wait_until(lambda: labelled(commands, second, [bolt]), labels, "label of the second")
    head = commands.orders.recorder.max_notification_id() or 0
    wait_until(lambda: position(postgres_url) >= head, labels, "the log's head")
    assert labels.stop() == 0, labels.log()

    blobs = LocalBlobStore(tmp_path / "blobs")
    keys = {}
    for order, seller in [(first, acme), (first, bolt), (second, bolt)]:
        fulfilment = commands.orders.fulfilment(order.id, seller)
        keys[order.id, seller] = label_key(fulfilment.id)
        assert fulfilment.label == (label_key(fulfilment.id), "application/pdf")
        assert fulfilment.version == 1
    acme_pdf, kind = blobs.get(keys[first.id, acme])
    bolt_pdf, _ = blobs.get(keys[first.id, bolt])
    assert kind == "application/pdf"
    assert acme_pdf.startswith(b"%PDF-") and acme_pdf.rstrip().endswith(b"%%EOF")
    for text in [str(first.id), "Acme Depot", "9 Rue du Port", "75001 Paris", "Teapot \xd7 2"]:
        assert text.encode("latin-1") in acme_pdf, text
    for text in [SHIP_TO["name"], SHIP_TO["line1"], "69001 Lyon", "FR"]:
        assert text.encode("latin-1") in acme_pdf and text.encode("latin-1") in bolt_pdf
    assert b"(Bolt)" in bolt_pdf and b"Kettle \xd7 1" in bolt_pdf and b"Teapot" not in bolt_pdf

    files = snapshot(blobs.root)
    assert len(files) == 6
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DELETE FROM projection_positions WHERE view = 'labels'")
    labels.start()
    wait_until(lambda: position(postgres_url) >= head, labels, "the head again, replayed")
    assert labels.stop() == 0, labels.log()

    assert (commands.orders.recorder.max_notification_id() or 0) == head
    assert snapshot(blobs.root) == files
