"""What an actor may search: the collections they may see, read from PostgreSQL and
remembered per audience (anonymous visitors, each signed-in member; staff see them all).

A remembered scope is either trusted or a guess. It is trusted while no change of
collections or memberships has been announced since it was read (backend.access.watch: a
web process hears of every one as it commits), it was read on the primary outside any
transaction, and the session asking has not begun one (whose own changes are announced
only when it commits). Otherwise it is a guess that the search confirms with its
fingerprint, in the statement that reads the hits' rows (backend.search.service), and
`current` reads it again.
"""

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Text, cast, func
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import is_staff
from backend.access.scope import audience, visible_collection_clause
from backend.access.watch import WATCH, Mark
from backend.collections.models import Collection
from backend.db import committed_rows
from backend.users.models import User

REMEMBERED = 2048  # audiences (anonymous, each signed-in patron) kept per process


@dataclass(frozen=True)
class Scope:
    """The collections an actor may see: their ids (None for staff, who see them all), their
    names (facet labels), whether any is private, and a fingerprint of them all that
    PostgreSQL computes alike each time."""

    ids: list[int] | None
    names: dict[int, str]
    fingerprint: str | None = None
    mark: Mark | None = None  # taken before they were read (backend.access.watch)
    private: bool = False

    @property
    def only_public(self) -> bool:
        """Whether searches in it find exactly what an anonymous visitor's find."""
        return self.ids is not None and not self.private


STAFF = Scope(None, {})
_remembered: OrderedDict[str, Scope] = OrderedDict()
_statements: OrderedDict[tuple[Any, ...], Select[Any]] = OrderedDict()


def statement(key: tuple[Any, ...], build: Callable[[], Select[Any]]) -> Select[Any]:
    """A statement with its values as parameters, built once per audience and shape (for
    as many as REMEMBERED): building one costs more than running it."""
    stmt = _statements.get(key)
    if stmt is None:
        stmt = _statements[key] = build()
        while len(_statements) > REMEMBERED:
            _statements.popitem(last=False)
    _statements.move_to_end(key)
    return stmt


def _columns() -> tuple[Any, Any, Any]:
    """The visible collections' ids, names and publicity, as arrays in the ids' order."""
    by_id = col(Collection.id)
    return tuple(  # type: ignore[return-value]
        func.array_agg(aggregate_order_by(column, by_id))
        for column in (by_id, col(Collection.name), col(Collection.is_public))
    )


def fingerprint() -> Any:
    """md5 of the ids, names and publicity (arrays in their text form, which quotes each
    name)."""
    ids, names, public = _columns()
    return func.md5(cast(ids, Text) + cast(names, Text) + cast(public, Text))


async def read(session: AsyncSession, actor: User | None) -> Scope:
    """What the actor may see, read now, and remembered for the actor's next search."""
    if is_staff(actor):
        return STAFF
    mark = mark_for(session)
    stmt = statement(
        ("scope", audience(actor)),
        lambda: select(*_columns(), fingerprint()).where(visible_collection_clause(actor)),
    )
    row: Any = (await committed_rows(session, stmt))[0]
    ids, names, public, sums = row
    named = dict(zip(ids or [], names or [], strict=True))
    return remember(actor, Scope(list(ids or []), named, sums, mark, not all(public or [])))


def mark_for(session: AsyncSession) -> Mark | None:
    """The mark for what the session reads next (backend.access.watch). Only a reading of
    the primary's committed rows is trusted until a notification says otherwise: a
    replica may not have replayed a change notified already, and a transaction's own
    changes are notified only if it commits."""
    if session.in_transaction() or session.info.get("replica"):
        return None
    return WATCH.mark()


def remember(actor: User | None, scope: Scope) -> Scope:
    _remembered[audience(actor)] = scope
    _remembered.move_to_end(audience(actor))
    while len(_remembered) > REMEMBERED:
        _remembered.popitem(last=False)
    return scope


def remembered(actor: User | None) -> Scope | None:
    """What the actor could see when last read (to be trusted or checked)."""
    return STAFF if is_staff(actor) else _remembered.get(audience(actor))


def trusted(session: AsyncSession, scope: Scope | None) -> bool:
    """Whether `scope` is what the actor may see now, without asking PostgreSQL."""
    if scope is STAFF:
        return True
    return scope is not None and not session.in_transaction() and WATCH.holds(scope.mark)


async def current(session: AsyncSession, actor: User | None) -> Scope:
    """What the actor may see now: the remembered scope when it is trusted, else read."""
    known = remembered(actor)
    if known is not None and trusted(session, known):
        return known
    return await read(session, actor)


def forget() -> None:
    """Forget every remembered scope (tests)."""
    _remembered.clear()
