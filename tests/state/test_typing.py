"""Search as you type under a busy server (state.search._Typing, _Pace): keys that come
faster than the results never run more than one search per tab at a time, and when a
search ends only the newest text waiting is searched, and shown; while other tabs' searches
keep the process busy, a tab's text is searched when its typing pauses."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import app.app  # noqa: F401  (registers every state)
import state.search
from state.search import _TYPING, SearchState
from tests.state.tabs import Tabs, event_name


@pytest.fixture
async def tabs(clean: None, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Tabs]:
    monkeypatch.setattr(state.search, "PACE", state.search._Pace())  # nothing learnt yet
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


async def test_a_busy_process_searches_a_tabs_typing_when_it_pauses(
    tabs: Tabs, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab, other = await tabs.open("/search"), await tabs.open("/search")
    real = state.search.search.search
    searched: list[str] = []
    slow = {"tide": 0.8, "tides": 1.2}  # another tab's searches, as a busy server runs them

    async def timed(**asked: Any) -> Any:
        searched.append(asked["query"])
        await asyncio.sleep(slow.get(asked["query"], 0))
        return await real(**asked)

    monkeypatch.setattr(state.search.search, "search", timed)
    typed = event_name(SearchState.typed)
    pace = state.search.PACE
    await tabs.send(other, typed, {"text": "tide"})  # the process learns how long they take
    assert pace.running == 0 and pace.quiet() == 0
    busy = asyncio.create_task(tabs.send(other, typed, {"text": "tides"}))
    await asyncio.sleep(0.1)
    assert pace.running == 1 and pace.quiet() == pace.CAP
    keys = []
    for text in ("har", "harb", "harbo", "harbou", "harbour"):
        keys.append(asyncio.create_task(tabs.send(tab, typed, {"text": text})))
        await asyncio.sleep(0.1)  # (a key every 100 ms: a typist's pace)
    await asyncio.gather(busy, *keys)
    assert searched == ["tide", "tides", "harbour"]  # (idle, each key's text: five searches)
    shown = await tabs.state(tab)
    assert '"shown_for_rx_state_":"harbour"' in shown.replace(" ", "")

    # Idle again: every key is searched as it comes.
    searched.clear()
    assert pace.running == 0 and pace.quiet() == 0
    for text in ("sea", "seal", "seals"):
        await tabs.send(tab, typed, {"text": text})
    assert searched == ["sea", "seal", "seals"]
    assert tabs.errors == []
    assert tab.token not in _TYPING and other.token not in _TYPING
