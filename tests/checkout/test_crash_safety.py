"""kill -9 the checkout worker and the notification worker at random points during checkouts.

The kill schedule (which worker, after how many checkouts, after what pause) comes from its
own seeded generator, printed with each run; MARKETPLACE_TEST_KILL_SEED replays a schedule.
Each worker is killed KILLS_EACH times while the checkouts stream in.

After the restarts every order completes, no order is charged twice, and no mail is missing.
A mail can arrive twice (SMTP is not exactly-once: a kill between the server's 250 reply and
the outbox commit), but workers/notify/sender.py sends one outbox row at a time and commits it
before claiming the next, so a kill of the notification worker repeats at most the one mail
it had in flight, with the original's Message-ID and content; receivers drop such a repeat by
its Message-ID.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop
from tests.mail_collector import Collector, message_id
from tests.worker_process import WorkerProcess

pytestmark = pytest.mark.postgres

ORDERS = 60
KILLS_EACH = 3
SEED_VARIABLE = "MARKETPLACE_TEST_KILL_SEED"
GATE_SECONDS = 60.0


@dataclass(frozen=True)
class Kill:
    """Kill victim once `after` checkouts were placed (and before the next), after pause s."""

    after: int
    victim: str
    pause: float


def kill_schedule(rng: random.Random) -> list[Kill]:
    """KILLS_EACH kills of each worker at distinct random points of the checkout stream."""
    victims = ["checkout", "notify"] * KILLS_EACH
    rng.shuffle(victims)
    points = sorted(rng.sample(range(1, ORDERS), len(victims)))
    return [Kill(p, v, rng.uniform(0.0, 0.2)) for p, v in zip(points, victims, strict=True)]


def worker(name: str, settings: Settings, smtp_port: int, folder: Path) -> WorkerProcess:
    env = {
        "MARKETPLACE_POSTGRES_URL": str(settings.postgres.url),
        "MARKETPLACE_PAYMENT_GATEWAY_URL": str(settings.payments.gateway_url),
        "MARKETPLACE_PAYMENT_TIMEOUT_SECONDS": "1",
        "MARKETPLACE_DATA_DIR": str(folder / "data"),
        "MARKETPLACE_SMTP_HOST": "127.0.0.1",
        "MARKETPLACE_SMTP_PORT": str(smtp_port),
        "MARKETPLACE_MAIL_FROM": "Shop <shop@shop.test>",
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }
    return WorkerProcess([name], env, folder / f"{name}.log")


def same_mail(a: EmailMessage, b: EmailMessage) -> bool:
    """Whether two deliveries carry the same mail (Date is set at each send)."""
    headers = ("Message-ID", "From", "To", "Subject")
    return all(a[h] == b[h] for h in headers) and a.get_content() == b.get_content()


def test_kill_9_of_the_workers_neither_loses_nor_repeats_an_order_charge_or_mail(
    shop: Shop,
    settings: Settings,
    gateway: Gateway,
    smtp: tuple[Collector, int],
    tmp_path: Path,
) -> None:
    collector, smtp_port = smtp
    seed = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(2**32))
    schedule = kill_schedule(random.Random(seed))
    print(f"kill seed {seed} ({SEED_VARIABLE}={seed} replays it); schedule {schedule}")
    pace = random.Random(seed + 1)  # the stream's own generator: gaps between checkouts
    product = shop.product(ORDERS)
    shop.register_shoppers(ORDERS)
    shop.fill_carts(product, shop.shoppers)
    workers = {name: worker(name, settings, smtp_port, tmp_path) for name in ("checkout", "notify")}
    order_ids: list[uuid.UUID] = []
    gate = threading.Condition()
    delivered = 0  # kills done so far, guarded by gate
    placed_at_kill: list[int] = []
    kills: Counter[str] = Counter()  # kills that found their victim running
    stream_failed: list[BaseException] = []

    def delivered_at_least(count: int) -> Callable[[], bool]:
        return lambda: delivered >= count

    def stream() -> None:
        """Place the checkouts; checkout n+1 waits for every kill scheduled after n checkouts."""
        try:
            for n, shopper in enumerate(shop.shoppers):
                due = sum(kill.after <= n for kill in schedule)
                with gate:
                    if not gate.wait_for(delivered_at_least(due), GATE_SECONDS):
                        return  # the killer failed; the assertions below report it
                order_ids.append(shop.check_out(shopper, "crash"))
                time.sleep(pace.uniform(0.0, 0.1))
        except BaseException as error:  # reported by the assertions below
            stream_failed.append(error)

    for process in workers.values():
        process.start()
    checkouts = threading.Thread(target=stream, daemon=True)
    try:
        checkouts.start()
        for kill in schedule:
            deadline = time.monotonic() + GATE_SECONDS
            while len(order_ids) < kill.after:
                assert not stream_failed, f"checkout failed: {stream_failed[0]!r}, seed {seed}"
                assert time.monotonic() < deadline, f"stream stuck before {kill}, seed {seed}"
                time.sleep(0.005)
            time.sleep(kill.pause)
            victim = workers[kill.victim]
            victim.kill()
            assert victim.process is not None
            assert victim.process.returncode == -signal.SIGKILL, f"{kill} found it dead"
            kills[kill.victim] += 1
            placed_at_kill.append(len(order_ids))
            with gate:
                delivered += 1
                gate.notify_all()
            victim.start()
        checkouts.join(GATE_SECONDS)
        assert not checkouts.is_alive(), f"the checkout stream did not finish, seed {seed}"
        assert not stream_failed, f"checkout failed: {stream_failed[0]!r}, seed {seed}"
        assert len(order_ids) == ORDERS, f"seed {seed}"
        orders = shop.wait_until_final(order_ids, 120)
        expected_mails = 2 * ORDERS  # the shopper's confirmation and the seller's new order
        deadline = time.monotonic() + 60
        while len({message_id(m) for m in collector.messages()}) < expected_mails:
            assert time.monotonic() < deadline, f"mail missing, seed {seed}"
            time.sleep(0.1)
        time.sleep(1.0)  # a repeat, if any, would have come by now
    finally:
        for process in workers.values():
            if process.alive():
                process.stop()

    assert kills == {"checkout": KILLS_EACH, "notify": KILLS_EACH}
    assert {name: p.starts for name, p in workers.items()} == {
        "checkout": KILLS_EACH + 1,
        "notify": KILLS_EACH + 1,
    }
    assert placed_at_kill == [kill.after for kill in schedule], f"seed {seed}"
    assert all(0 < n < ORDERS for n in placed_at_kill)
    assert {order.status for order in orders.values()} == {OrderStatus.CONFIRMED}
    item = shop.stock(product)
    assert (item.sold, item.reserved, item.available) == (ORDERS, 0, 0)
    charged = Counter(charge["reference"] for charge in gateway.charges())
    assert charged == {str(order_id): 1 for order_id in order_ids}, f"seed {seed}"

    messages = collector.messages()
    per_id = Counter(message_id(m) for m in messages)
    assert len(per_id) == 2 * ORDERS
    for order_id in order_ids:
        about = {message_id(m) for m in messages if str(order_id) in m.get_content()}
        assert len(about) == 2, order_id
    first: dict[uuid.UUID, EmailMessage] = {}
    for message in messages:
        original = first.setdefault(message_id(message), message)
        assert same_mail(original, message), f"{message_id(message)} changed between deliveries"
    repeats = Counter({mail: count - 1 for mail, count in per_id.items() if count > 1})
    print(
        f"seed {seed}; kills {dict(kills)}; mails {len(messages)}, distinct {len(per_id)}, "
        f"repeats {repeats.total()}"
    )
    assert repeats.total() <= kills["notify"]
