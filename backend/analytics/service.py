"""Recording what happens, for the dashboards."""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics.models import AnalyticsEvent
from backend.users.models import User


async def record(
    *,
    session: AsyncSession,
    kind: str,
    actor: User | None = None,
    document_id: int | None = None,
    query: str = "",
    result_count: int | None = None,
    duration_ms: float | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add an event to the caller's unit of work."""
    session.add(
        AnalyticsEvent(
            kind=kind,
            user_id=actor.id if actor else None,
            document_id=document_id,
            query=query[:1000],
            result_count=result_count,
            duration_ms=duration_ms,
            data=data or {},
        )
    )
