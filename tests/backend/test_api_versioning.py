"""A deprecated v1 route says so in every answer (Deprecation, Sunset, Link) and in the
schema; a sunset sooner than six months after the notice is refused."""

from datetime import date

import httpx
import pytest
from fastapi import Depends, FastAPI

from backend.api.versioning import deprecated


async def test_a_deprecated_route_carries_its_dates_and_successor() -> None:
    api = FastAPI()

    @api.get(
        "/api/v1/old",
        deprecated=True,
        dependencies=[Depends(deprecated(date(2027, 1, 1), date(2027, 7, 5), "/api/v2/new"))],
    )
    async def old() -> dict[str, str]:
        return {"still": "here"}

    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as c:
        answer = await c.get("/api/v1/old")
    assert answer.json() == {"still": "here"}
    assert answer.headers["deprecation"] == "@1798761600"  # 2027-01-01T00:00:00Z
    assert answer.headers["sunset"] == "Mon, 05 Jul 2027 00:00:00 GMT"
    assert answer.headers["link"] == '</api/v2/new>; rel="successor-version"'
    assert api.openapi()["paths"]["/api/v1/old"]["get"]["deprecated"] is True


def test_too_short_a_notice_is_refused() -> None:
    with pytest.raises(ValueError, match="days' notice"):
        deprecated(date(2027, 1, 1), date(2027, 3, 1), "/api/v2/new")


def test_no_v1_route_is_deprecated_without_its_headers() -> None:
    """Every v1 route the schema marks deprecated sends the headers (and none is, yet)."""
    from backend.api.routes import create_api

    api = create_api()
    for route in api.routes:
        if getattr(route, "deprecated", False):
            deps = [d.call for d in route.dependant.dependencies]  # type: ignore[attr-defined]
            assert any(getattr(d, "__qualname__", "").startswith("deprecated.") for d in deps)
