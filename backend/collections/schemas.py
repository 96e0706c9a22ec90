from dataclasses import dataclass

from backend.collections.models import Collection


@dataclass(frozen=True)
class CollectionPublic:
    id: int
    name: str
    slug: str
    description: str
    is_public: bool
    document_count: int = 0
    cover_url: str = ""

    @classmethod
    def of(cls, c: Collection, document_count: int = 0) -> "CollectionPublic":
        assert c.id is not None
        return cls(c.id, c.name, c.slug, c.description, c.is_public, document_count, cover_url(c))


def cover_url(c: Collection) -> str:
    """Where the cover is served (the key's tail busts caches when it changes), or ""."""
    if not c.cover_key:
        return ""
    return f"/api/v1/collections/{c.id}/cover?v={c.cover_key[-12:]}"
