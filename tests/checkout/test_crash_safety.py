"""kill -9 the checkout worker and the notification worker at random moments during checkouts.

After the restarts every order completes, no order is charged twice, and every mail
arrives: once per Message-ID, with raw repeats (a kill between the SMTP server's reply
and the outbox commit) at most one per kill of the notification worker.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop
from tests.e2e.worker_process import WorkerProcess
from tests.mail_collector import Collector, message_id

pytestmark = pytest.mark.postgres

ORDERS = 60
KILLS = 6


def worker(name: str, settings: Settings, smtp_port: int, folder: Path) -> WorkerProcess:
    env = {
        "MARKETPLACE_POSTGRES_URL": str(settings.postgres_url),
        "MARKETPLACE_PAYMENT_GATEWAY_URL": str(settings.payment_gateway_url),
        "MARKETPLACE_PAYMENT_TIMEOUT_SECONDS": "1",
        "MARKETPLACE_DATA_DIR": str(folder / "data"),
        "MARKETPLACE_SMTP_HOST": "127.0.0.1",
        "MARKETPLACE_SMTP_PORT": str(smtp_port),
        "MARKETPLACE_MAIL_FROM": "Shop <shop@shop.test>",
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }
    return WorkerProcess([name], env, folder / f"{name}.log")


def test_kill_9_of_the_workers_neither_loses_nor_repeats_an_order_charge_or_mail(
    shop: Shop,
    settings: Settings,
    gateway: Gateway,
    smtp: tuple[Collector, int],
    tmp_path: Path,
) -> None:
    collector, smtp_port = smtp
    product = shop.product(ORDERS)
    shop.register_shoppers(ORDERS)
    shop.fill_carts(product, shop.shoppers)
    workers = {name: worker(name, settings, smtp_port, tmp_path) for name in ("checkout", "notify")}
    kills: Counter[str] = Counter()
    rng = random.Random(7)
    order_ids: list[uuid.UUID] = []

    def stream() -> None:
        for shopper in shop.shoppers:
            order_ids.append(shop.check_out(shopper, "crash"))
            time.sleep(rng.uniform(0.0, 0.1))

    for process in workers.values():
        process.start()
    try:
        checkouts = threading.Thread(target=stream)
        checkouts.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.5))
            victim = workers[rng.choice(["checkout", "notify"])]
            victim.kill()
            kills[victim.args[0]] += 1
            victim.start()
        checkouts.join()
        orders = shop.wait_until_final(order_ids, 120)
        expected_mails = 2 * ORDERS  # the shopper's confirmation and the seller's new order
        deadline = time.monotonic() + 60
        while len({message_id(m) for m in collector.messages()}) < expected_mails:
            assert time.monotonic() < deadline, "mail missing"
            time.sleep(0.1)
        time.sleep(1.0)  # a repeat, if any, would have come by now
    finally:
        for process in workers.values():
            if process.alive():
                process.stop()

    assert sum(kills.values()) == KILLS
    assert {order.status for order in orders.values()} == {OrderStatus.CONFIRMED}
    item = shop.stock(product)
    assert (item.sold, item.reserved, item.available) == (ORDERS, 0, 0)
    charged = Counter(charge["reference"] for charge in gateway.charges())
    assert charged == {str(order_id): 1 for order_id in order_ids}

    messages = collector.messages()
    per_id = Counter(message_id(m) for m in messages)
    assert len(per_id) == 2 * ORDERS
    for order_id in order_ids:
        about = {message_id(m) for m in messages if str(order_id) in m.get_content()}
        assert len(about) == 2, order_id
    repeats = len(messages) - len(per_id)
    print(f"kills {dict(kills)}; mails {len(messages)}, distinct {len(per_id)}, repeats {repeats}")
    assert repeats <= kills["notify"]
