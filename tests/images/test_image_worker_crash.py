"""kill -9 the image worker mid-run, 20 times: the variants recorded equal one clean run's,
none twice, and every key they name is in the blob store."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.images.shop import image_settings, image_shop
from tests.support.images import encoded, picture
from tests.worker_process import WorkerProcess
from workers.images.render import render_variants

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.slow]

KILLS = 20
IMAGES = 24
WAIT_SECONDS = 60.0
LANDING = random.Random(17)


def worker_process(settings: Settings, tmp_path: Path) -> WorkerProcess:
    env = {
        "MARKETPLACE_POSTGRES_URL": str(settings.postgres.url),
        "MARKETPLACE_DATA_DIR": str(settings.data_dir),
        "MARKETPLACE_BLOB_DIR": str(settings.blobs.local_dir),
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }
    return WorkerProcess(["images", "--batch-size", "2"], env, tmp_path / "images.log")


def wait_for(condition: object, process: WorkerProcess, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():  # type: ignore[operator]
        if not process.alive():
            pytest.fail(f"the image worker exited: {process.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached after {WAIT_SECONDS}s\n{process.log()}")
        time.sleep(0.01)


def test_kill_9_mid_run_twenty_times_equals_one_clean_run(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = image_settings(postgres_url, tmp_path)
    with image_shop(settings) as shop:
        originals = [encoded(picture(260 + n, 200), "jpeg") for n in range(IMAGES)]
        ids = [shop.add(data) for data in originals]
        clean = {
            (image_id, v.name): (v.width, v.height, {f: r.key for f, r in v.renditions.items()})
            for image_id, data in zip(ids, originals, strict=True)
            for v in render_variants(data)
        }
        process = worker_process(settings, tmp_path)
        kills = 0
        while kills < KILLS and len(shop.variants()) < len(clean):
            process.start()
            wait_for(lambda: process.metric("images_rendered_total") >= 1, process, "a rendering")
            time.sleep(LANDING.uniform(0, 0.05))  # lands the kill mid-render, -put or -append
            process.kill()
            kills += 1
        process.start()
        wait_for(lambda: len(shop.variants()) >= len(clean), process, "every variant")
        assert process.stop() == 0

        variants = shop.variants()
        recorded = {(e.image_id, e.variant): (e.width, e.height, e.renditions) for e in variants}
        assert recorded == clean
        assert max(Counter((e.image_id, e.variant) for e in variants).values()) == 1
        for _, _, renditions in recorded.values():
            for key in renditions.values():
                assert shop.blobs.get(key)[0]
        assert kills >= KILLS // 2, "the worker finished before it could be killed enough"
