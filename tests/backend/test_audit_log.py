"""The library-wide audit log: every staff action on collections, documents and accounts,
and every staff login, in one list for admins, filtered and paged without gaps."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import journal
from backend.auth import admin as accounts
from backend.auth import audit
from backend.auth import service as auth
from backend.collections import service as collections
from backend.documents import metadata
from backend.documents import service as documents
from backend.errors import InvalidInput, NotAuthenticated, PermissionDenied
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import Role
from tests.factories import (
    PASSWORD,
    enable_second_factor,
    make_collection,
    make_user,
    upload_bytes,
)


async def _all(db: AsyncSession, who: object, **filters: object) -> list[journal.Entry]:
    """Every entry the filters keep, page after page."""
    found, cursor = [], ""
    while True:
        page = await journal.page(
            session=db,
            actor=who,  # type: ignore[arg-type]
            filters=journal.Filters(**filters),  # type: ignore[arg-type]
            cursor=cursor,
        )
        found += page.entries
        if not page.next_cursor:
            return found
        cursor = page.next_cursor


async def test_staff_actions_are_logged_and_found_by_every_filter(
    db: AsyncSession, data_dir: Path
) -> None:
    admin = await make_user(db, Role.ADMIN, email="root@library.org")
    await enable_second_factor(db, admin)
    librarian = await make_user(db, Role.LIBRARIAN, email="ursula@library.org")
    librarian.display_name = "Ursula Uploader"
    reader = await make_user(db, email="reader@library.org")
    shelf = await make_collection(db, librarian, "Harbour maps")
    assert shelf.id is not None
    await collections.update(
        session=db,
        actor=librarian,
        collection_id=shelf.id,
        name="Harbour charts",
        description="Soundings",
        is_public=False,
    )
    await collections.add_member(
        session=db, actor=librarian, collection_id=shelf.id, email=reader.email
    )
    await collections.add_member(
        session=db, actor=librarian, collection_id=shelf.id, email=reader.email, role="curator"
    )
    assert reader.id is not None
    await collections.remove_member(
        session=db, actor=librarian, collection_id=shelf.id, user_id=reader.id
    )
    doc, _ = await upload_bytes(db, librarian, shelf, b"the sounding ledger\n", "ledger.txt")
    assert doc.id is not None
    await metadata.update(
        session=db,
        actor=librarian,
        document_id=doc.id,
        record=metadata.Record(title="Ledger of soundings", language="en"),
    )
    await documents.delete_document(session=db, actor=librarian, document_id=doc.id)
    assert librarian.id is not None
    await accounts.set_role(session=db, actor=admin, user_id=librarian.id, role="admin")
    lib_email, lib_id, reader_email = librarian.email, librarian.id, reader.email
    shelf_id, doc_id = shelf.id, doc.id
    await db.commit()
    redis = get_redis()
    await auth.login(session=db, redis=redis, email=lib_email, password=PASSWORD, ip="10.0.0.9")
    await db.commit()
    with pytest.raises(NotAuthenticated):
        await auth.login(session=db, redis=redis, email=lib_email, password="wrong", ip="10.6.6.6")
    await db.rollback()
    # A patron's login is their own business: not in the staff log.
    await auth.login(session=db, redis=redis, email=reader_email, password=PASSWORD)
    await db.commit()

    await db.refresh(admin)  # (the rollback above expired it)
    log = await _all(db, admin)
    assert [e.action for e in log] == [
        audit.STAFF_LOGIN_FAILED,
        audit.STAFF_LOGIN,
        audit.ROLE_CHANGED,
        journal.DOCUMENT_DELETED,
        "edit",
        journal.DOCUMENT_ADDED,
        journal.MEMBER_REMOVED,
        journal.MEMBER_CHANGED,
        journal.MEMBER_ADDED,
        journal.COLLECTION_UPDATED,
        journal.COLLECTION_CREATED,
        audit.SECOND_FACTOR_ENABLED,  # the admin's own, before anything else
    ]
    failed, ok = log[0], log[1]
    assert failed.actor == "someone at 10.6.6.6" and failed.object_label == lib_email
    assert ok.actor == lib_email and ok.ip == "10.0.0.9"
    updated = log[-3]
    assert updated.object_kind == "collection" and updated.object_id == shelf_id
    assert updated.object_label == "Harbour charts"
    assert "name: Harbour maps → Harbour charts" in updated.detail
    assert "public: True → False" in updated.detail
    deleted = log[3]
    assert (deleted.object_kind, deleted.object_id) == ("document", doc_id)
    assert deleted.object_label == "Ledger of soundings"  # as it was called when deleted
    assert "title: Ledger of soundings → –" in deleted.detail
    assert "role: viewer → curator" in log[7].detail and "reader@library.org" in log[7].detail

    # By actor (part of the e-mail or of the name), action, object and day.
    by_ursula = await _all(db, admin, actor="Uploader")
    assert len(by_ursula) == 8 + 1  # her 8 changes and her login
    assert {e.action for e in await _all(db, admin, actor="root@")} == {
        audit.ROLE_CHANGED,
        audit.SECOND_FACTOR_ENABLED,
    }
    assert [e.action for e in await _all(db, admin, action=journal.MEMBER_ADDED)] == [
        journal.MEMBER_ADDED
    ]
    on_doc = await _all(db, admin, object=f"document {doc_id}")
    assert [e.action for e in on_doc] == [journal.DOCUMENT_DELETED, "edit", journal.DOCUMENT_ADDED]
    on_shelf = await _all(db, admin, object=f"collection {shelf_id}")
    assert len(on_shelf) == 5  # the document's entries are the document's
    assert [e.action for e in await _all(db, admin, object="soundings")] == [
        journal.DOCUMENT_DELETED,
        "edit",
    ]
    on_account = await _all(db, admin, object=f"account {lib_id}")
    assert [e.action for e in on_account] == [
        audit.STAFF_LOGIN_FAILED,
        audit.STAFF_LOGIN,
        audit.ROLE_CHANGED,
    ]
    today = datetime.now(UTC).date()
    assert len(await _all(db, admin, first=today, last=today)) == len(log)
    assert await _all(db, admin, last=today - timedelta(days=1)) == []
    assert await _all(db, admin, first=today + timedelta(days=1)) == []
    with pytest.raises(InvalidInput):
        await _all(db, admin, first=today, last=today - timedelta(days=1))

    # Admins only.
    other_librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    for outsider in (None, patron, other_librarian):
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await _all(db, outsider)


async def test_the_days_are_the_librarys_and_pages_have_no_gaps_or_repeats(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await make_user(db, Role.ADMIN)
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    await db.commit()
    # 130 entries at 7 instants (ties across both tables), the first at 23:30 UTC on
    # 1 March, which is 2 March in Auckland.
    base = datetime(2027, 3, 1, 23, 30, tzinfo=UTC)
    await db.exec(text("DELETE FROM audit_log"))
    await db.exec(text("DELETE FROM account_events"))
    for i in range(100):
        await db.exec(
            text(
                "INSERT INTO audit_log (collection_id, actor_id, actor_name, action, label, "
                "changes, at) VALUES (:c, :a, 'L', 'collection_updated', 'Shelf', '{}', :at)"
            ).bindparams(c=shelf.id, a=librarian.id, at=base + timedelta(hours=i % 7))
        )
    for i in range(30):
        await db.exec(
            text(
                "INSERT INTO account_events (actor_id, actor_email, subject_email, action, "
                "detail, ip, at) VALUES (:a, 'a@x', 's@x', 'role changed', '', '', :at)"
            ).bindparams(a=admin.id, at=base + timedelta(hours=i % 7))
        )
    await db.commit()
    log = await _all(db, admin)
    assert len(log) == 130
    assert len({(e.source, e.id) for e in log}) == 130
    keys = [(e.at, e.source, e.id) for e in log]
    assert keys == sorted(keys, reverse=True)

    assert len(await _all(db, admin, first=date(2027, 3, 1), last=date(2027, 3, 1))) == 15 + 5
    monkeypatch.setenv("LIBRARY_TIMEZONE", "Pacific/Auckland")
    get_settings.cache_clear()
    try:
        # In Auckland every one of them happened on 2 March.
        assert await _all(db, admin, first=date(2027, 3, 1), last=date(2027, 3, 1)) == []
        assert len(await _all(db, admin, first=date(2027, 3, 2), last=date(2027, 3, 2))) == 130
    finally:
        monkeypatch.delenv("LIBRARY_TIMEZONE")
        get_settings.cache_clear()

    with pytest.raises(InvalidInput):
        await journal.page(session=db, actor=admin, filters=journal.Filters(), cursor="garbage!")
