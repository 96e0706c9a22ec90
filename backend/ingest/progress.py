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
        # Looked up once per unit of work (a pipeline run announces each of its steps).
        key = ("collection of document", version.document_id)
        if key not in session.info:
            document = await session.get(Document, version.document_id)
            if document is None:
                return
            session.info[key] = document.collection_id
        message = {"version_id": version.id, "status": version.status, "step": version.step}
        await get_redis().publish(channel(session.info[key]), json.dumps(message))
    except Exception:
        log.warning("could not announce ingest progress of version %s", version.id, exc_info=True)
