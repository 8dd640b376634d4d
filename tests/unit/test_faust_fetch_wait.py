"""faust_compat fix 6: the worker's aiokafka consumer gets the app's fetch wait, not faust's fixed 1,500 ms (a
fetch over quiet partitions held back every busy one for that long: processors/faust_compat.py)."""

from __future__ import annotations

import asyncio

import faust

from processors import faust_compat


def _worker_consumer_wait(configure: int | None) -> int:
    async def build() -> int:
        app = faust.App(f"fetch-wait-{configure}", broker="kafka://127.0.0.1:9", autodiscover=False)
        if configure is not None:
            faust_compat.set_fetch_max_wait(app, configure)
        thread = app.consumer._thread
        consumer = thread._create_worker_consumer(app.transport)
        return int(consumer._fetch_max_wait_ms)

    return asyncio.run(build())


def test_the_worker_consumer_takes_the_apps_fetch_wait() -> None:
    assert _worker_consumer_wait(35) == 35


def test_without_a_setting_the_wait_is_short_not_fausts_1500_ms() -> None:
    assert _worker_consumer_wait(None) == faust_compat.FETCH_MAX_WAIT_MS < 1500
