"""Rate limits in Redis, shared by every web process: sliding-window counters (two keys per
limit and subject, so memory stays small however many clients), the algorithm of the
`limits` library (which parses the budgets), all of a request's limits counted in one Lua
script: one round trip, and all or nothing (a request refused by one limit spends none).

A budget is a name and one or more limits (`10/second;300/minute`, from the settings); a
subject is whoever spends it (a client address, a session or token, a browser tab). A
request that any limit refuses is refused whole, and the answer says when to come back.
Redis away does not take the library down with it: the check is skipped (and logged once a
minute), since every other part of a request needs Redis less than this one.
"""

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from limits import RateLimitItem, parse_many
from redis.asyncio import Redis

from backend.settings import get_settings

log = logging.getLogger(__name__)

KEY_PREFIX = "library:limits"
REDIS_TIMEOUT_SECONDS = 0.5

# For each limit i: KEYS[2i-1] its previous window's counter, KEYS[2i] its current one;
# ARGV[2i-1] its amount, ARGV[2i] its window in seconds. Shifts each expired window (as
# `limits` does), refuses when one more would pass any limit (its index, 1-based, first),
# otherwise counts one in every current window. Returns the refused index (0: allowed) and,
# per limit, the previous count, its ms to live, the current count and its ms to live.
SPEND_SCRIPT = """
local n = #KEYS / 2
local out = {0}
local refused = 0
for i = 1, n do
  local prev, cur = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, expiry = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]) * 1000
  local cttl = tonumber(redis.call('pttl', cur))
  if cttl > 0 and cttl < expiry then
    redis.call('rename', cur, prev)
    redis.call('set', cur, 0, 'PX', cttl + expiry)
  end
  local pc = tonumber(redis.call('get', prev)) or 0
  local pttl = math.max(0, tonumber(redis.call('pttl', prev)))
  local cc = tonumber(redis.call('get', cur)) or 0
  if refused == 0 and math.floor(pc * pttl / expiry) + cc + 1 > limit then
    refused = i
  end
  out[#out + 1] = pc
  out[#out + 1] = pttl
  out[#out + 1] = cc
  out[#out + 1] = 0
end
for i = 1, n do
  local cur, expiry = KEYS[2 * i], tonumber(ARGV[2 * i]) * 1000
  if refused == 0 then
    if redis.call('exists', cur) == 1 then
      redis.call('incr', cur)
    else
      redis.call('set', cur, 1, 'PX', expiry * 2)
    end
    out[4 * i] = out[4 * i] + 1
  end
  out[4 * i + 1] = math.max(0, tonumber(redis.call('pttl', cur)))
end
out[1] = refused
return out
"""


@dataclass(frozen=True)
class Decision:
    """What a budget says about one more request: allowed or not, and the figures a
    client is told in `RateLimit-*` headers (of the limit nearest to refusing)."""

    allowed: bool
    limit: int = 0
    remaining: int = 0
    reset_seconds: int = 0
    budget: str = ""  # the name of the budget these figures are of

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


@cache
def _redis() -> Redis:
    # The whole call has one deadline (spend_all), cheaper than one per socket read and write.
    return Redis.from_url(get_settings().redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)


@cache
def _script() -> Any:
    return _redis().register_script(SPEND_SCRIPT)


@cache
def budget(name: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(getattr(get_settings(), f"rate_limit_{name}")))


def subject_of(secret: str) -> str:
    """A session or API token as a subject: hashed, so no key in Redis holds a credential."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def _decision(allowed: bool, item: RateLimitItem, figures: list[int], name: str) -> Decision:
    """A limit's figures as `limits` reports them: what is left of the weighted count, and
    the seconds until it next goes down (the previous window's share, or the shift)."""
    previous, previous_ms, current, current_ms = figures
    window = item.get_expiry()
    used = previous * previous_ms / 1000 / window + current
    resets = [math.inf]
    if previous:
        resets.append((previous_ms / 1000) % (window / previous))
    if current:
        shift_ms = current_ms - window * 1000 if current_ms > window * 1000 else current_ms
        resets.append(shift_ms / 1000)
    reset = 0 if math.isinf(min(resets)) else math.ceil(min(resets))
    return Decision(allowed, item.amount, max(0, item.amount - math.floor(used)), reset, name)


_last_warning = 0.0


async def spend_all(spent: list[tuple[str, str]]) -> Decision:
    """Count one request against each (budget, subject), all or none: the first limit that
    refuses it, or, when all allow it, the figures of the one nearest to refusing."""
    global _last_warning
    items = [(item, name, subject) for name, subject in spent if subject for item in budget(name)]
    if not items:
        return ALLOWED
    keys: list[str] = []
    args: list[int] = []
    for item, name, subject in items:
        key = f"{KEY_PREFIX}:{item.key_for(name, subject)}"
        keys += [f"{key}/-1", key]
        args += [item.amount, item.get_expiry()]
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            answer = [int(x) for x in await _script()(keys=keys, args=args)]
    except Exception as exc:  # Redis away or too slow: let the request through
        if time.monotonic() - _last_warning > 60:
            _last_warning = time.monotonic()
            log.warning("rate limits not checked: %s", exc)
        return ALLOWED
    refused = answer[0]
    decisions = [
        _decision(refused == 0, item, answer[1 + 4 * i : 5 + 4 * i], name)
        for i, (item, name, _) in enumerate(items)
    ]
    if refused:
        return decisions[refused - 1]
    return min(decisions, key=lambda d: d.remaining)


async def spend(name: str, subject: str) -> Decision:
    """Count one request of `subject` against the budget `name` (see spend_all)."""
    return await spend_all([(name, subject)])


def reset_limiter() -> None:
    """Forget the Redis client and the budgets (tests that change the settings)."""
    _redis.cache_clear()
    _script.cache_clear()
    budget.cache_clear()
