"""The limiter itself (backend.ratelimits), against the real Redis: a request's limits are
counted together, all or none, with the figures a client is told."""

import asyncio
from typing import Any

from backend import ratelimits


async def test_figures_count_down_to_a_refusal_that_says_when(
    clean: None, rate_limits: Any
) -> None:
    rate_limits(search="3/minute")
    decisions = [await ratelimits.spend("search", "198.51.100.30") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    refused = decisions[3]
    assert refused.limit == 3 and 1 <= refused.wait <= 60
    assert ("Retry-After", str(refused.wait)) in refused.headers
    assert refused.refusal("searches").startswith("Too many searches; try again in")
    # Another subject has a budget of its own.
    assert (await ratelimits.spend("search", "198.51.100.31")).remaining == 2


async def test_the_limit_nearest_to_refusing_is_reported(clean: None, rate_limits: Any) -> None:
    rate_limits(search="5/second;2/minute")
    first = await ratelimits.spend("search", "198.51.100.32")
    assert (first.limit, first.remaining) == (2, 1)  # the minute's, with less left


async def test_a_refused_request_spends_none_of_its_budgets(clean: None, rate_limits: Any) -> None:
    rate_limits(search="1/minute", address="10/minute")
    both = [("address", "198.51.100.33"), ("search", "198.51.100.33")]
    assert (await ratelimits.spend_all(both)).allowed
    for _ in range(3):
        refused = await ratelimits.spend_all(both)
        assert not refused.allowed and refused.limit == 1  # the search budget refused it
    # Only the one allowed request was counted against the address.
    assert (await ratelimits.spend("address", "198.51.100.33")).remaining == 8


async def test_a_window_slides(clean: None, rate_limits: Any) -> None:
    rate_limits(search="2/second")
    subject = "198.51.100.34"
    assert [(await ratelimits.spend("search", subject)).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    await asyncio.sleep(2.2)  # the full window and the previous one's share have passed
    assert (await ratelimits.spend("search", subject)).allowed


async def test_subjects_without_a_name_and_redis_away_are_let_through(
    rate_limits: Any, monkeypatch: Any
) -> None:
    from backend.settings import get_settings

    rate_limits(search="1/minute")
    assert (await ratelimits.spend("search", "")).allowed
    monkeypatch.setattr(get_settings(), "redis_url", "redis://127.0.0.1:9")
    ratelimits.reset_limiter()
    assert all([(await ratelimits.spend("search", "198.51.100.35")).allowed for _ in range(3)])


async def test_a_redis_that_never_answers_lets_requests_through_within_the_deadline(
    rate_limits: Any, monkeypatch: Any
) -> None:
    """A server that takes the connection and says nothing (a hung Redis, a full network
    buffer): each request waits at most the limiter's deadline, then goes on."""
    from backend.settings import get_settings
    from tests.backend.test_breakers import SilentServer

    server = SilentServer()
    try:
        rate_limits(search="1/minute")
        monkeypatch.setattr(get_settings(), "redis_url", f"redis://127.0.0.1:{server.port}")
        ratelimits.reset_limiter()
        for _ in range(2):  # the cancelled call's connection is dropped, not reused
            async with asyncio.timeout(5 * ratelimits.REDIS_TIMEOUT_SECONDS):
                assert (await ratelimits.spend("search", "198.51.100.36")).allowed
        assert server.accepted  # it did connect and wait
    finally:
        server.close()
        ratelimits.reset_limiter()
