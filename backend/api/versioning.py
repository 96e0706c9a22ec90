"""What /api/v1 promises, and how a route that will change says so.

v1 is stable: it only grows (new routes, new optional parameters, new fields in answers);
nothing in it is removed, renamed or given another meaning. A change that would break a
client goes to /api/v2, beside v1. A v1 route that v2 replaces is first marked
deprecated, for at least six months before its sunset: its answers then carry
`Deprecation` (RFC 9745: since when), `Sunset` (RFC 8594: the date it goes) and a `Link`
to its successor, and the OpenAPI schema marks it deprecated.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import format_datetime

from fastapi import Response

MIN_NOTICE_DAYS = 183


def deprecated(since: date, sunset: date, successor: str) -> Callable[[Response], None]:
    """A dependency for a route that will go: `dependencies=[Depends(deprecated(...))]`
    (with the route's `deprecated=True`, for the schema)."""
    if (sunset - since).days < MIN_NOTICE_DAYS:
        raise ValueError(f"a v1 route gets at least {MIN_NOTICE_DAYS} days' notice")
    since_at = datetime(since.year, since.month, since.day, tzinfo=UTC)
    sunset_at = datetime(sunset.year, sunset.month, sunset.day, tzinfo=UTC)

    def mark(response: Response) -> None:
        response.headers["Deprecation"] = f"@{int(since_at.timestamp())}"
        response.headers["Sunset"] = format_datetime(sunset_at, usegmt=True)
        response.headers["Link"] = f'<{successor}>; rel="successor-version"'

    return mark
