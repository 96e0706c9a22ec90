"""Use cases for accounts: registration, the first admin, roles, deactivation."""

from email_validator import EmailNotValidError, validate_email
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.auth import passwords
from backend.errors import Conflict, InvalidInput, NotFound
from backend.users import repository
from backend.users.models import Role, User


def _clean_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(f"That email address is not valid: {exc}") from exc


def _clean_name(display_name: str, email: str) -> str:
    name = " ".join(display_name.split())
    if len(name) > 200:
        raise InvalidInput("Name must be at most 200 characters long.")
    return name or email.split("@")[0]


async def register(
    *, session: AsyncSession, email: str, password: str, display_name: str = ""
) -> User:
    """Create a patron account."""
    clean = _clean_email(email)
    passwords.check_policy(password, email=clean)
    if await repository.by_email(session, clean):
        raise Conflict("An account with this email address already exists. Try logging in.")
    user = User(
        email=clean,
        display_name=_clean_name(display_name, clean),
        password_hash=await passwords.hash_password(password),
        role=Role.PATRON.value,
    )
    session.add(user)
    await session.flush()
    return user


async def create_admin(
    *, session: AsyncSession, email: str, password: str, display_name: str = ""
) -> User:
    """Create an admin, or promote and re-password an existing account (command line only)."""
    clean = _clean_email(email)
    passwords.check_policy(password, email=clean)
    user = await repository.by_email(session, clean)
    if user is None:
        user = User(email=clean, display_name=_clean_name(display_name, clean), password_hash="")
        session.add(user)
    user.password_hash = await passwords.hash_password(password)
    user.role = Role.ADMIN.value
    user.is_active = True
    await session.flush()
    return user


async def list_users(*, session: AsyncSession, actor: User | None) -> list[User]:
    """Every account, for admins."""
    require_admin(actor)
    return await repository.list_all(session)


async def set_role(*, session: AsyncSession, actor: User | None, user_id: int, role: str) -> User:
    """Change a user's role; admins only, and the last active admin cannot step down."""
    require_admin(actor)
    try:
        new_role = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"Unknown role {role!r}.") from exc
    user = await repository.by_id(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    if (
        user.role == Role.ADMIN
        and new_role != Role.ADMIN
        and await repository.count_active_admins(session) <= 1
    ):
        raise Conflict("This is the last admin; make someone else admin first.")
    user.role = new_role.value
    session.add(user)
    await session.flush()
    return user


async def set_active(
    *, session: AsyncSession, actor: User | None, user_id: int, active: bool
) -> User:
    """Enable or disable an account; disabling ends all its sessions."""
    from backend.auth import service as auth_service

    require_admin(actor)
    user = await repository.by_id(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    if (
        not active
        and user.role == Role.ADMIN
        and await repository.count_active_admins(session) <= 1
    ):
        raise Conflict("This is the last admin; it cannot be disabled.")
    user.is_active = active
    session.add(user)
    if not active:
        assert user.id is not None
        await auth_service.revoke_all_sessions(session=session, user_id=user.id)
    await session.flush()
    return user
