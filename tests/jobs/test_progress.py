"""Every step of the pipeline is announced on the collection's channel, in order."""

import json
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.ingest import progress
from backend.redis_client import get_redis
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


async def test_steps_are_announced_live(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    other = await make_collection(db, librarian)
    assert collection.id is not None and other.id is not None
    pubsub = get_redis().pubsub()
    await pubsub.subscribe(progress.channel(collection.id))
    _, version = await upload_bytes(db, librarian, collection, b"live words\n", "live.txt")
    await upload_bytes(db, librarian, other, b"elsewhere\n", "other.txt")
    await db.commit()
    await run_burst()
    messages = []
    for _ in range(20):  # None also stands for the subscribe confirmation: read a while
        m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if m is not None:
            messages.append(json.loads(m["data"]))
    await pubsub.aclose()
    assert {m["version_id"] for m in messages} == {version.id}  # only this collection's
    steps = [m["step"] for m in messages]
    assert steps == [
        "sniff",
        "duplicate_check",
        "virus_scan",
        "extract",
        "thumbnail",
        "index",
        "done",
    ]
    assert messages[-1]["status"] == "ready" and messages[0]["status"] == "processing"
