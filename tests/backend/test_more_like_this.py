""" "More like this" through the search service: the engine's choice, then what the actor
may see, never the document itself or those already shown as related."""

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.errors import NotFound
from backend.search import service
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

TEXTS = {
    "flutter": "Aeroelastic flutter of heated wings at supersonic speed.",
    "wings": "Supersonic wings: heated surfaces and aeroelastic flutter.",
    "hidden": "Aeroelastic flutter tests of heated supersonic wings, confidential.",
    "roses": "Roses and tulips in spring beds; gardening at home.",
}


async def test_more_like_this_is_what_the_actor_may_see(db: AsyncSession, data_dir: object) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    shelf = await make_collection(db, librarian, "Open shelf")
    back = await make_collection(db, librarian, "Back room", is_public=False)
    ids = {}
    for name, body in TEXTS.items():
        where = back if name == "hidden" else shelf
        document, _ = await upload_bytes(db, librarian, where, body.encode(), f"{name}.txt")
        ids[name] = document.id
    await db.commit()
    await run_burst()

    for_patron = await service.similar(session=db, actor=patron, document_id=ids["flutter"])
    assert [i for i, _ in for_patron] == [ids["wings"]]
    assert for_patron[0][1]  # with its title
    for_staff = await service.similar(session=db, actor=librarian, document_id=ids["flutter"])
    assert {i for i, _ in for_staff} == {ids["wings"], ids["hidden"]}
    left = await service.similar(
        session=db, actor=librarian, document_id=ids["flutter"], leave_out=[ids["wings"]]
    )
    assert [i for i, _ in left] == [ids["hidden"]]
    with pytest.raises(NotFound):  # a document the actor may not see is not described
        await service.similar(session=db, actor=patron, document_id=ids["hidden"])
