"""Rows for tests, made through the real services."""

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections import service as collections
from backend.collections.models import Collection
from backend.documents import service as documents
from backend.documents.models import Document, DocumentVersion
from backend.storage.service import get_store, store_stream
from backend.users import service as users
from backend.users.models import Role, User

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


async def make_user(session: AsyncSession, role: Role = Role.PATRON, email: str = "") -> User:
    user = await users.register(
        session=session,
        email=email or f"user{next(_seq)}@example.org",
        password=PASSWORD,
        display_name=f"{role.value.title()} {next(_seq)}",
    )
    user.role = role.value
    session.add(user)
    await session.flush()
    return user


async def make_collection(
    session: AsyncSession, actor: User, name: str = "", is_public: bool = True
) -> Collection:
    return await collections.create(
        session=session, actor=actor, name=name or f"Collection {next(_seq)}", is_public=is_public
    )


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def upload_bytes(
    session: AsyncSession, actor: User, collection: Collection, data: bytes, filename: str
) -> tuple[Document, DocumentVersion]:
    stored = await store_stream(get_store(), _chunks(data))
    assert collection.id is not None
    return await documents.add_document(
        session=session, actor=actor, collection_id=collection.id, stored=stored, filename=filename
    )


async def upload_file(
    session: AsyncSession, actor: User, collection: Collection, path: Path
) -> tuple[Document, DocumentVersion]:
    return await upload_bytes(session, actor, collection, path.read_bytes(), path.name)
