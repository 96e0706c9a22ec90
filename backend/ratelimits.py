"""Rate limits in Redis, shared by every web process: the `limits` library's sliding-window
counters (two keys per limit and subject, so memory stays small however many clients).

A budget is a name and one or more limits (`10/second;300/minute`, from the settings); a
subject is whoever spends it (a client address, a session or token, a browser tab). A
request that any limit refuses is refused whole, and the answer says when to come back.
Redis away does not take the library down with it: the check is skipped (and logged once a
minute), since every other part of a request needs Redis less than this one.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from functools import cache

from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from backend.settings import get_settings

log = logging.getLogger(__name__)

KEY_PREFIX = "library:limits"
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Decision:
    """What a budget says about one more request: allowed or not, and the figures a
    client is told in `RateLimit-*` headers (of the limit nearest to refusing)."""

    allowed: bool
    limit: int = 0
    remaining: int = 0
    reset_seconds: int = 0

    @property
    def wait(self) -> int:
        """Whole seconds until a refused request may come back (at least one)."""
        return max(1, self.reset_seconds)

    def refusal(self, what: str) -> str:
        """The sentence a refused client reads: "Too many <what>; try again in N seconds."."""
        return f"Too many {what}; try again in {self.wait} second{'s' if self.wait != 1 else ''}."

    @property
    def headers(self) -> list[tuple[str, str]]:
        if not self.limit:
            return []
        found = [
            ("RateLimit-Limit", str(self.limit)),
            ("RateLimit-Remaining", str(self.remaining)),
            ("RateLimit-Reset", str(self.reset_seconds)),
        ]
        if not self.allowed:
            found.append(("Retry-After", str(self.wait)))
        return found


ALLOWED = Decision(allowed=True)


def limits_url(redis_url: str) -> str:
    """The `limits` storage URL of a redis-py URL (redis://, rediss://, unix://)."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


@cache
def _limiter() -> SlidingWindowCounterRateLimiter:
    storage = RedisStorage(
        limits_url(get_settings().redis_url),
        implementation="redispy",
        key_prefix=KEY_PREFIX,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return SlidingWindowCounterRateLimiter(storage)


@cache
def budget(name: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(getattr(get_settings(), f"rate_limit_{name}")))


def subject_of(secret: str) -> str:
    """A session or API token as a subject: hashed, so no key in Redis holds a credential."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


_last_warning = 0.0


async def spend(name: str, subject: str, *, figures: bool = True) -> Decision:
    """Count one request of `subject` against the budget `name`; with `figures`, say how
    much is left (a second round trip per limit), otherwise only when refused."""
    global _last_warning
    if not subject:
        return ALLOWED
    limiter = _limiter()
    nearest: Decision | None = None
    try:
        for item in budget(name):
            allowed = await limiter.hit(item, name, subject)
            if allowed and not figures:
                continue
            stats = await limiter.get_window_stats(item, name, subject)
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            decision = Decision(allowed, item.amount, max(0, stats.remaining), reset)
            if not allowed:
                return decision
            if nearest is None or decision.remaining < nearest.remaining:
                nearest = decision
    except Exception as exc:  # Redis away or too slow: let the request through
        if time.monotonic() - _last_warning > 60:
            _last_warning = time.monotonic()
            log.warning("rate limits not checked: %s", exc)
        return ALLOWED
    return nearest or ALLOWED


async def spend_all(spent: list[tuple[str, str]], *, figures: bool = True) -> Decision:
    """Count one request against each (budget, subject) in turn: the first refusal, or,
    when all allow it, the figures of the one nearest to refusing."""
    nearest = ALLOWED
    for name, subject in spent:
        decision = await spend(name, subject, figures=figures)
        if not decision.allowed:
            return decision
        if decision.limit and (not nearest.limit or decision.remaining < nearest.remaining):
            nearest = decision
    return nearest


def reset_limiter() -> None:
    """Forget the storage and the budgets (tests that change the settings)."""
    _limiter.cache_clear()
    budget.cache_clear()
