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

    @classmethod
    def of(cls, c: Collection, document_count: int = 0) -> "CollectionPublic":
        assert c.id is not None
        return cls(c.id, c.name, c.slug, c.description, c.is_public, document_count)
