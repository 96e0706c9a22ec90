"""What a web process learns at once when who may see which collection changes.

PostgreSQL triggers (migration 0030) on `collections` (a row added or removed, its
publicity or name changed) and `collection_members` (any change) notify CHANNEL when the
change commits, whatever made it: a page, the API, a job, a migration, psql. A web process
listens on one connection of its own to the server itself (a transaction pooler cannot
hold a LISTEN) and counts the epochs: each notification, and each time the listener
connects or loses its connection, begins a new one.

A `Mark` is taken before reading what an actor may see; the reading stays true while the
mark `holds`: the same epoch, the listener heard from the server within ALIVE_SECONDS
(it asks every PING_SECONDS when nothing comes), and the mark is younger than
TRUST_SECONDS. backend.search trusts a remembered scope while its mark holds and checks
it with PostgreSQL otherwise, as it does wherever no listener runs (the worker, tests
that start none). A change made elsewhere is then seen within the time its notification
takes to arrive (milliseconds; a process's own change too, since the commit's answer and
the notification travel apart).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg

from backend.settings import get_settings

log = logging.getLogger(__name__)

CHANNEL = "library_visibility"
APPLICATION = "library visibility watch"  # (its connection's name in pg_stat_activity)
PING_SECONDS = 5.0
ALIVE_SECONDS = 3 * PING_SECONDS
TRUST_SECONDS = 60.0
RETRY_SECONDS = 1.0  # after a failure; doubled after each one that follows, to RETRY_MOST
RETRY_MOST = 30.0
# Migration 0030's triggers: without them nothing would be announced, and nothing is trusted.
TRIGGERS = ("collections_visibility", "collection_members_visibility")


@dataclass(frozen=True)
class Mark:
    epoch: int
    at: float  # time.monotonic()


class Watch:
    """The listener of one event loop (a web process's)."""

    def __init__(self) -> None:
        self.epoch = 0
        self.heard_at = -ALIVE_SECONDS  # (monotonic) the server's last word; never yet
        self.listening = False
        self.task: asyncio.Task[None] | None = None

    def _here(self) -> bool:
        task = self.task
        return task is not None and not task.done() and task.get_loop() is _loop()

    def mark(self) -> Mark | None:
        """The mark for a reading made from now on; None when nothing would tell it
        changed (no listener in this event loop, or not connected)."""
        if not (self.listening and self._here()):
            return None
        return Mark(self.epoch, time.monotonic())

    def holds(self, mark: Mark | None) -> bool:
        """Whether nothing read since `mark` was taken can have changed."""
        if mark is None or mark.epoch != self.epoch or not self.listening or not self._here():
            return False
        now = time.monotonic()
        return now - mark.at < TRUST_SECONDS and now - self.heard_at < ALIVE_SECONDS

    def _next(self) -> None:
        self.epoch += 1

    async def run(self) -> None:
        """Listen until cancelled, connecting again after every failure."""
        wait = RETRY_SECONDS
        while True:
            try:
                await self._listen()
            except Exception as exc:  # (the server restarted, the network failed, …)
                if self.listening:
                    wait = RETRY_SECONDS  # (it had listened: a new failure)
                log.warning("not told of visibility changes (%s); again in %ss", exc, wait)
            finally:
                self.listening = False
                self._next()  # what changed meanwhile was not heard
            await asyncio.sleep(wait)
            wait = min(RETRY_MOST, 2 * wait)

    async def _listen(self) -> None:
        settings = get_settings()
        async with await psycopg.AsyncConnection.connect(
            settings.direct_dsn,
            autocommit=True,
            connect_timeout=max(1, round(settings.connect_timeout_seconds)),
            application_name=APPLICATION,
        ) as conn:
            found = await conn.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s)", [list(TRIGGERS)]
            )
            if (await found.fetchone()) != (len(TRIGGERS),):
                raise RuntimeError("the database has not the triggers that announce them")
            await conn.execute(f"LISTEN {CHANNEL}")
            self._next()
            self.heard_at = time.monotonic()
            self.listening = True
            while True:
                async for _ in conn.notifies(timeout=PING_SECONDS):
                    self._next()
                    self.heard_at = time.monotonic()
                # A silent server is asked whether it is there; one that does not answer
                # is left (a connection lost without a word: a network failure).
                await asyncio.wait_for(conn.execute("SELECT 1"), PING_SECONDS)
                self.heard_at = time.monotonic()

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Listen while the block runs (a web server's lifespan), in this event loop."""
        self.task = asyncio.get_running_loop().create_task(self.run())
        try:
            yield
        finally:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


def _loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


WATCH = Watch()


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """The web server's lifespan: visibility changes are listened for while it runs."""
    async with WATCH.watching():
        yield
