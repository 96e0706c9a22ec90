"""Websocket events spend rate budgets (state.guard, backend.ratelimits): every event
its tab's, and the handlers that run a search the search budget, per tab and per address.
Past a budget the handler does not run and the tab is told to slow down. The rule holds
for every handler, present and future: the guard counts events before it looks at them,
and every handler that runs a search is marked (checked over all of them below)."""

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from reflex_base.registry import RegistrationContext

import app.app  # noqa: F401  (registers every state)
from state.guard import SEARCH, budget_of, is_library_handler
from state.search import SearchState
from tests.state.tabs import Tabs, event_name

SLOW = "sending requests too quickly"


@pytest.fixture
async def tabs(clean: None) -> AsyncIterator[Tabs]:
    async with Tabs() as t:
        yield t


async def test_a_tab_typing_faster_than_its_search_budget_is_slowed_and_told(
    tabs: Tabs, rate_limits: Any
) -> None:
    rate_limits(search="3/minute")
    tab = await tabs.open("/search")  # its on_load search spends one
    typed = event_name(SearchState.typed)
    for text in ("w", "wo", "wor"):
        await tabs.send(tab, typed, {"text": text})
    sent = tab.sent()
    assert sent.count(SLOW) == 1  # the third keystroke: refused, and said so
    assert '"wor"' not in (await tabs.state(tab))  # its search never ran
    assert '"wo"' in (await tabs.state(tab))
    # Another tab from the same address shares the address's search budget.
    other = await tabs.open("/search")
    await tabs.send(other, typed, {"text": "x"})
    assert SLOW in other.sent()
    assert tabs.errors == []


async def test_every_event_spends_its_tabs_budget(tabs: Tabs, rate_limits: Any) -> None:
    rate_limits(events="7/minute")
    tab = await tabs.open("/search")  # hydration and the page's on_load chain: five events
    for text in ("a", "b", "c"):
        await tabs.send(tab, event_name(SearchState.typed), {"text": text})
    assert tab.sent().count(SLOW) == 1
    fresh = await tabs.open("/search")  # a new tab has its own
    assert SLOW not in fresh.sent()


def test_every_handler_that_runs_a_search_spends_the_search_budget() -> None:
    """Read from the handlers' source: a handler that calls the search service, the
    completion service or SearchState's search must be marked @budget(SEARCH)."""
    runs_a_search = ("search.search(", "completion.complete(", "self._run(")
    unmarked, marked = [], []
    for name, registered in RegistrationContext.get().event_handlers.items():
        fn = registered.handler.fn
        if not is_library_handler(fn):
            continue
        source = inspect.getsource(fn)
        if any(call in source for call in runs_a_search):
            (marked if budget_of(fn) == SEARCH else unmarked).append(name)
    assert unmarked == []
    assert len(marked) >= 2  # the search page's load and search-as-you-type at least


async def test_events_are_counted_by_handler(tabs: Tabs) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    handler = "SearchState.typed"
    served = value("library_websocket_events_total", handler=handler, outcome="served")
    tab = await tabs.open("/search")
    await tabs.send(tab, event_name(SearchState.typed), {"text": "kelp"})
    assert value("library_websocket_events_total", handler=handler, outcome="served") == served + 1


async def test_every_handler_is_timed_by_name(tabs: Tabs) -> None:
    """Reflex's event trace points, on for every handler (state.event_timing, installed by
    app/app.py), feed library_websocket_event_seconds by handler."""
    from prometheus_client import REGISTRY

    def count(handler: str) -> float:
        return (
            REGISTRY.get_sample_value("library_websocket_event_seconds_count", {"handler": handler})
            or 0.0
        )

    before = count("SearchState.load"), count("SearchState.typed")
    tab = await tabs.open("/search?q=tides")
    await tabs.send(tab, event_name(SearchState.typed), {"text": "tide"})
    assert count("SearchState.load") == before[0] + 1
    assert count("SearchState.typed") == before[1] + 1
