"""Use cases for accounts: creating them, the first admin, listing them.

Registration by mail, roles, deactivation and second factors are in `backend.auth`, which
may import this package (never the other way round).
"""

from email_validator import EmailNotValidError, validate_email
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.analytics import events as analytics
from backend.errors import Conflict, InvalidInput
from backend.users import passwords, repository
from backend.users.models import Role, User


def clean_email(email: str) -> str:
    """The normalized address, or InvalidInput when it is not one."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(f"That email address is not valid: {exc}") from exc


def clean_name(display_name: str, email: str) -> str:
    """The display name with spaces tidied, or the address's local part when empty."""
    name = " ".join(display_name.split())
    if len(name) > 200:
        raise InvalidInput("Name must be at most 200 characters long.")
    return name or email.split("@")[0]


async def create_account(
    *,
    session: AsyncSession,
    email: str,
    display_name: str,
    password_hash: str,
    role: Role = Role.PATRON,
) -> User:
    """Create an active account (a patron unless invited as staff) whose address is
    already confirmed."""
    clean = clean_email(email)
    if await repository.by_email(session, clean):
        raise Conflict("An account with this email address already exists. Try logging in.")
    user = User(
        email=clean,
        display_name=clean_name(display_name, clean),
        password_hash=password_hash,
        role=role.value,
    )
    session.add(user)
    await session.flush()
    await analytics.record(kind="registration", actor=user)
    return user


async def register(
    *, session: AsyncSession, email: str, password: str, display_name: str = ""
) -> User:
    """Create a patron account at once (tools and tests; people register by mail)."""
    clean = clean_email(email)
    name = clean_name(display_name, clean)
    passwords.check_policy(password, email=clean, name=name)
    return await create_account(
        session=session,
        email=clean,
        display_name=name,
        password_hash=await passwords.hash_password(password),
    )


async def create_admin(
    *, session: AsyncSession, email: str, password: str, display_name: str = ""
) -> User:
    """Create an admin, or promote and re-password an existing account (command line only)."""
    clean = clean_email(email)
    passwords.check_policy(password, email=clean, name=display_name)
    user = await repository.by_email(session, clean)
    if user is None:
        user = User(email=clean, display_name=clean_name(display_name, clean), password_hash="")
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
