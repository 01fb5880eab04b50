"""``health_check``: 503 until the service says ready, 200 while ready, 503 again once draining starts."""

from __future__ import annotations

import asyncio

import httpx

from collector.component import ComponentID, CreateSettings
from collector.extensions.health_check import Config, create
from tests.support import free_port


def test_answers_follow_readiness() -> None:
    port = free_port()
    ext = create(CreateSettings(ComponentID("health_check")), Config(endpoint=f"127.0.0.1:{port}", path="/health"))

    async def scenario() -> list[tuple[int, bool]]:
        answers = []
        await ext.start()
        async with httpx.AsyncClient() as client:
            for ready in (None, True, False):
                if ready is not None:
                    ext.set_ready(ready)
                r = await client.get(f"http://127.0.0.1:{port}/health")
                answers.append((r.status_code, r.json()["ready"]))
        await ext.shutdown()
        return answers

    assert asyncio.run(scenario()) == [(503, False), (200, True), (503, False)]
