from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role, User


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.exec(select(User).where(User.email == normalize_email(email)))
    return result.first()


async def by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def count_active_admins(session: AsyncSession) -> int:
    stmt = (
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, col(User.is_active).is_(True))
    )
    return int((await session.exec(stmt)).one())


async def list_all(session: AsyncSession) -> list[User]:
    return list((await session.exec(select(User).order_by(col(User.email)))).all())
