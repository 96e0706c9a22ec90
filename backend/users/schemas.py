from dataclasses import dataclass
from datetime import datetime

from backend.users.models import User


@dataclass(frozen=True)
class UserPublic:
    id: int
    email: str
    display_name: str
    role: str
    is_active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserPublic":
        assert user.id is not None
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            is_active=user.is_active,
            created_at=user.created_at,
        )
