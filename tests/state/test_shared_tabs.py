"""Two web processes serving the same tabs from one Redis, as behind nginx: an event of a
tab arriving at the other process (an upload posted there, the websocket reconnected
there) finds the tab with every change made to it, at once, and the first process then
sees the second's. Both as the library runs (every event written through to Redis) and with
Reflex's opportunistic lock (REFLEX_OPLOCK_ENABLED, Redis 7), where the process that served
a tab's last event keeps its state in memory until another asks for it."""

import os
import time
from collections.abc import AsyncIterator

import pytest
import redis
from redis.asyncio import Redis
from reflex.istate.manager.redis import StateManagerRedis

import app.app  # noqa: F401  (registers every state)
from backend.embedded import redis_server
from state.search import SearchState
from tests.state.tabs import Tab, Tabs, _token, event_name

# Held far longer than the test could take: a tab that changes process does so because the
# other process asked for it, not because the lease ran out.
LEASE_S = 50


def test_the_embedded_redis_is_7() -> None:
    """Debian's (test.sh and run.sh install redis-tools): Reflex's opportunistic lock, which
    a deployment may turn on, needs Redis 7's PEXPIRE ... XX; 6.2 refuses it."""
    assert "redis-check-rdb" in str(redis_server())
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        assert int(client.info("server")["redis_version"].split(".")[0]) >= 7
    finally:
        client.close()


@pytest.fixture(params=["written through", "leased"])
async def two_processes(
    clean: None, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Tabs, Tabs]]:
    leased = request.param == "leased"
    monkeypatch.setenv("REFLEX_OPLOCK_ENABLED", "true" if leased else "false")
    monkeypatch.setenv("REFLEX_OPLOCK_HOLD_TIME", f"{LEASE_S}s")

    def web_process() -> Tabs:
        redis = Redis.from_url(os.environ["REDIS_URL"])
        return Tabs(StateManagerRedis(redis=redis, lock_expiration=(LEASE_S + 30) * 1000))

    async with web_process() as first, web_process() as second:
        yield first, second


async def searches_shown(tabs: Tabs, tab: Tab) -> int:
    """How many searches the tab has shown (SearchState._typed_seq), read under its lock
    through this process."""
    async with tabs.manager.modify_state(_token(tab)) as root:
        return (await root.get_state(SearchState))._typed_seq


async def test_a_tab_moves_between_processes_with_all_its_changes(
    two_processes: tuple[Tabs, Tabs],
) -> None:
    first, second = two_processes
    typed = event_name(SearchState.typed)
    tab = await first.open("/search")
    await first.send(tab, typed, {"text": "harbour light"})
    shown = await searches_shown(first, tab)
    assert first.errors == [] and shown >= 1
    # Leased, the first process holds the tab (in memory, not yet written to Redis).
    leases = first.manager._local_leases  # type: ignore[attr-defined]
    assert any(tab.token in key for key in leases) == first.manager._oplock_enabled  # type: ignore[attr-defined]

    second.tabs[tab.token] = tab  # the same tab's next event reaches the other process
    started = time.monotonic()
    await second.send(tab, typed, {"text": "harbour lights"})
    moved = time.monotonic() - started
    assert second.errors == []
    assert moved < LEASE_S / 2, f"the tab waited {moved:.1f} s: the lease was not broken"

    # Back at the first process: the second's search, counted after the first's (from a
    # state read before the first process wrote its own, it would count the same).
    started = time.monotonic()
    assert await searches_shown(first, tab) == shown + 1
    assert time.monotonic() - started < LEASE_S / 2
    seen = (await first.state(tab)).replace(" ", "")
    assert '"shown_for_rx_state_":"harbourlights"' in seen
    assert '"query_rx_state_":"harbourlights"' in seen
