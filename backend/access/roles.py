"""Role checks shared by every service. Hidden buttons are not security; these are."""

from backend.errors import NotAuthenticated, PermissionDenied
from backend.users.models import Role, User


def require_user(actor: User | None) -> User:
    if actor is None or not actor.is_active:
        raise NotAuthenticated("Please log in first.")
    return actor


def require_admin(actor: User | None) -> User:
    user = require_user(actor)
    if user.role != Role.ADMIN:
        raise PermissionDenied("Only an admin can do that.")
    return user


def require_staff(actor: User | None) -> User:
    user = require_user(actor)
    if user.role not in (Role.ADMIN, Role.LIBRARIAN):
        raise PermissionDenied("Only a librarian or an admin can do that.")
    return user


def is_staff(actor: User | None) -> bool:
    return actor is not None and actor.is_active and actor.role in (Role.ADMIN, Role.LIBRARIAN)
