"""Search as you type under a busy server (state.search._Typing): keys that come faster
than the results never run more than one search per tab at a time, and when a search ends
only the newest text waiting is searched, and shown."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import app.app  # noqa: F401  (registers every state)
import state.search
from state.search import _TYPING, SearchState
from tests.state.tabs import Tabs, event_name


@pytest.fixture
async def tabs(clean: None) -> AsyncIterator[Tabs]:
    async with Tabs() as t:
        yield t


async def test_a_tab_runs_one_search_at_a_time_and_then_only_its_newest_text(
    tabs: Tabs, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab = await tabs.open("/search")
    real = state.search.search.search
    searched: list[str] = []
    running = most = 0

    async def slow(**asked: Any) -> Any:  # the real search, as a busy server runs it
        nonlocal running, most
        searched.append(asked["query"])
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.4)
            return await real(**asked)
        finally:
            running -= 1

    monkeypatch.setattr(state.search.search, "search", slow)
    typed = event_name(SearchState.typed)
    keys = []
    for text in ("li", "lig", "ligh", "light", "lighth"):
        keys.append(asyncio.create_task(tabs.send(tab, typed, {"text": text})))
        await asyncio.sleep(0.05)  # (a key every 50 ms, each before the first search ends)
    await asyncio.gather(*keys)
    assert most == 1
    assert searched == ["li", "lighth"]
    shown = await tabs.state(tab)
    assert '"shown_for_rx_state_":"lighth"' in shown.replace(" ", "")
    assert tab.token not in _TYPING  # nothing is kept for a tab that stopped typing
    assert tabs.errors == []

    # A tab's keys never wait for another tab's search.
    other = await tabs.open("/search")
    searched.clear()
    await asyncio.gather(
        tabs.send(tab, typed, {"text": "harbour"}), tabs.send(other, typed, {"text": "tide"})
    )
    assert sorted(searched) == ["harbour", "tide"]
    assert most == 2
