"""Live ingest progress: every committed status change is announced on a Redis channel per
collection, so pages showing that collection refresh at once (and any web process can)."""

import json
import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import Document, DocumentVersion
from backend.redis_client import get_redis

log = logging.getLogger(__name__)


def channel(collection_id: int) -> str:
    return f"ingest:collection:{collection_id}"


async def announce(session: AsyncSession, version: DocumentVersion) -> None:
    """Publish the version's status after it was committed; never fails the pipeline."""
    try:
        document = await session.get(Document, version.document_id)
        if document is None:
            return
        message = {"version_id": version.id, "status": version.status, "step": version.step}
        await get_redis().publish(channel(document.collection_id), json.dumps(message))
    except Exception:
        log.warning("could not announce ingest progress of version %s", version.id, exc_info=True)
