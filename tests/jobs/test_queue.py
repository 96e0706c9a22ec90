"""Jobs wait in Redis as JSON: no pickle that could run code in a worker."""

import json

from redis.asyncio import Redis

from backend import queue
from backend.settings import get_settings


async def test_enqueued_jobs_are_json(clean: None) -> None:
    await queue.enqueue(queue.Job("send_mail", (42,), "mail:42"))
    raw = Redis.from_url(get_settings().redis_url)
    stored = await raw.get("arq:job:mail:42")
    await raw.aclose()
    assert stored is not None
    job = json.loads(stored)
    assert job["f"] == "send_mail" and job["a"] == [42]


def test_results_with_exceptions_still_serialize() -> None:
    assert json.loads(queue.serialize({"r": ValueError("bad"), "s": False})) == {
        "r": "ValueError('bad')",
        "s": False,
    }
