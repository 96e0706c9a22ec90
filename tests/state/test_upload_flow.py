"""One upload flow for every drop zone, driven as Reflex drives it: chunks of each file in
the order the browser sends them. Who sends it is asked before the first chunk is taken;
limits hold while the bytes stream; a refusal keeps nothing of what was sent."""

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import reflex as rx
from PIL import Image
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.collections.models import Collection
from backend.documents.models import Document, DocumentVersion
from backend.imports.models import BulkImport, ImportStatus
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.storage.service import get_store
from backend.users.models import Role, User
from state.uploads import (
    Destination,
    bulk_import,
    collection_cover,
    into_collection,
    new_version,
    receive,
)
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes

CHUNK = 64 * 1024


class Sent:
    """The chunks of an upload, as Reflex's parser hands them over; counts those taken."""

    def __init__(self, files: list[tuple[str, bytes]]) -> None:
        self.files = files
        self.taken = 0
        self.total = sum(max(1, -(-len(d) // CHUNK)) for _, d in files)

    def __aiter__(self) -> AsyncIterator[rx.UploadChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[rx.UploadChunk]:
        for name, data in self.files:
            for offset in range(0, max(len(data), 1), CHUNK):
                self.taken += 1
                yield rx.UploadChunk(
                    filename=name,
                    offset=offset,
                    content_type="",
                    data=data[offset : offset + CHUNK],
                )
                await asyncio.sleep(0)


def stored_keys() -> set[str]:
    store = get_store()
    client = getattr(store, "client", None)
    if client is not None:  # S3
        found = client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)  # type: ignore[attr-defined]
        return {o["Key"] for o in found.get("Contents", [])}
    root = get_settings().objects_dir
    return (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        if root.exists()
        else set()
    )


async def token_of(db: AsyncSession, user: User) -> str:
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    return login.token


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def place(db: AsyncSession, data_dir: Path) -> dict[str, object]:
    curator = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, curator, "Charts")
    other = await make_user(db, Role.LIBRARIAN)
    elsewhere = await make_collection(db, other, "Elsewhere")
    document, _ = await upload_bytes(db, curator, shelf, b"first version\n", "log.txt")
    patron = await make_user(db)
    await db.commit()
    return {
        "curator": curator,
        "shelf": shelf,
        "other": other,
        "elsewhere": elsewhere,
        "document": document,
        "patron": patron,
    }


def _zones(place: dict[str, object]) -> dict[str, Destination]:
    shelf, document = place["shelf"], place["document"]
    return {
        "documents": into_collection(shelf.id),  # type: ignore[attr-defined]
        "new version": new_version(document.id),  # type: ignore[attr-defined]
        "cover": collection_cover(shelf.id),  # type: ignore[attr-defined]
        "bulk import": bulk_import(shelf.id),  # type: ignore[attr-defined]
    }


async def test_no_drop_zone_takes_a_chunk_before_the_sender_is_known_to_curate(
    db: AsyncSession, place: dict[str, object]
) -> None:
    before = stored_keys()
    senders = {
        "anonymous": "",
        "patron": await token_of(db, place["patron"]),  # type: ignore[arg-type]
        "curator elsewhere": await token_of(db, place["other"]),  # type: ignore[arg-type]
    }
    for who, token in senders.items():
        for zone, destination in _zones(place).items():
            sent = Sent([("big.bin", b"x" * (2 << 20)), ("more.csv", b"a,b\n")])
            outcome = await receive(sent, token=token, destination=destination)
            assert sent.taken == 0, (who, zone)
            assert outcome.accepted == [], (who, zone)
            assert outcome.error in ("No such collection.", "No such document."), (who, zone)
    assert stored_keys() == before
    assert (await db.exec(select(BulkImport))).all() == []


async def test_documents_stream_in_and_the_limit_stops_the_upload(
    db: AsyncSession, place: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 1 << 20)
    token = await token_of(db, place["curator"])  # type: ignore[arg-type]
    before = stored_keys()
    sent = Sent(
        [
            ("a.txt", b"alpha\n" * 1000),
            ("b.txt", b"beta\n" * 1000),
            ("huge.txt", b"z" * (5 << 20)),
            ("after.txt", b"never taken\n"),
        ]
    )
    done: list[tuple[int, str, int]] = []

    async def progress(index: int, name: str, received: int, finished: bool) -> None:
        if finished:
            done.append((index, name, received))

    outcome = await receive(
        sent, token=token, destination=_zones(place)["documents"], progress=progress
    )
    assert outcome.accepted == ["a.txt", "b.txt"]
    assert outcome.error == "huge.txt: The file is larger than the limit of 1.0 MB."
    assert done == [(0, "a.txt", 6000), (1, "b.txt", 5000)]
    # It stopped at the limit: the rest of the big file and the file after it stayed unread.
    assert sent.taken < sent.total - 60
    assert len(stored_keys() - before) == 2  # nothing of huge.txt
    titles = sorted((await db.exec(select(Document.title))).all())
    assert titles == ["a", "b", "log"]


async def test_a_new_version_only_from_the_documents_curators(
    db: AsyncSession, place: dict[str, object]
) -> None:
    document = place["document"]
    token = await token_of(db, place["curator"])  # type: ignore[arg-type]
    sent = Sent([("log-2.txt", b"second version\n"), ("extra.txt", b"not wanted\n")])
    outcome = await receive(sent, token=token, destination=_zones(place)["new version"])
    assert outcome.accepted == ["log-2.txt"]
    assert outcome.error == "extra.txt: Drop one file at a time here."
    versions = (
        await db.exec(
            select(DocumentVersion.version_no).where(DocumentVersion.document_id == document.id)  # type: ignore[attr-defined]
        )
    ).all()
    assert sorted(versions) == [1, 2]


async def test_a_cover_is_read_into_a_bounded_buffer(
    db: AsyncSession, place: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.collections import service as collections

    shelf = place["shelf"]
    token = await token_of(db, place["curator"])  # type: ignore[arg-type]
    monkeypatch.setattr(collections, "MAX_COVER_BYTES", 100_000)
    too_big = Sent([("cover.png", b"\x89PNG" + b"0" * 400_000)])
    outcome = await receive(too_big, token=token, destination=_zones(place)["cover"])
    assert outcome.error == "cover.png: The file is larger than the limit of 97.7 KB."
    assert too_big.taken <= 3
    outcome = await receive(
        Sent([("c.png", png())]), token=token, destination=_zones(place)["cover"]
    )
    assert outcome.accepted == ["c.png"]
    refreshed = await db.get(Collection, shelf.id, populate_existing=True)  # type: ignore[attr-defined]
    assert refreshed is not None and refreshed.cover_key.startswith(f"covers/{shelf.id}/")  # type: ignore[attr-defined]


CSV = b"filename,title\nharbour.txt,Harbour soundings\n"


async def test_an_import_is_stored_then_recorded_for_its_dry_run(
    db: AsyncSession, place: dict[str, object]
) -> None:
    token = await token_of(db, place["curator"])  # type: ignore[arg-type]
    archive = zip_of({"harbour.txt": b"Soundings.\n"})
    sent = Sent([("records.csv", CSV), ("files.zip", archive)])
    outcome = await receive(sent, token=token, destination=_zones(place)["bulk import"])
    assert outcome.error == "" and outcome.accepted == ["records.csv", "files.zip"]
    row = (await db.exec(select(BulkImport))).one()
    assert row.id == outcome.recorded[0]
    assert row.status == ImportStatus.CHECKING
    assert row.csv_key.startswith("imports/") and row.zip_key.endswith("/files.zip")
    store = get_store()
    assert b"".join([c async for c in store.read(row.csv_key)]) == CSV
    assert b"".join([c async for c in store.read(row.zip_key)]) == archive


@pytest.mark.parametrize("where", ["local", "s3"])
async def test_a_zip_bomb_stops_the_import_upload_and_nothing_is_kept(
    db: AsyncSession, place: dict[str, object], where: str, request: pytest.FixtureRequest
) -> None:
    if where == "s3":
        request.getfixturevalue("s3_store")
    token = await token_of(db, place["curator"])  # type: ignore[arg-type]
    before = stored_keys()
    # 600 members of 1 MB of zeros: ~1 KB each packed, 600 MB unpacked.
    bomb = zip_of({f"page{i}.txt": b"\0" * (1 << 20) for i in range(600)})
    assert len(bomb) < 1 << 20
    sent = Sent([("records.csv", CSV), ("files.zip", bomb)])
    outcome = await receive(sent, token=token, destination=_zones(place)["bulk import"])
    assert outcome.accepted == []
    assert (
        outcome.error == "files.zip: page0.txt expands more than 200 times: a decompression bomb?"
    )
    assert sent.taken <= 3  # the CSV and the ZIP's first chunk
    assert stored_keys() == before  # the CSV and the partial ZIP are both gone
    assert (await db.exec(select(BulkImport))).all() == []


async def test_an_import_takes_one_csv_and_one_zip(
    db: AsyncSession, place: dict[str, object]
) -> None:
    token = await token_of(db, place["curator"])  # type: ignore[arg-type]
    before = stored_keys()
    for files in (
        [("records.csv", CSV), ("scan.pdf", b"%PDF-1.4")],
        [("a.csv", CSV), ("b.csv", CSV)],
        [("files.zip", zip_of({"a.txt": b"a"}))],
    ):
        outcome = await receive(Sent(files), token=token, destination=_zones(place)["bulk import"])
        assert outcome.accepted == [] and "Drop one .csv file" in outcome.error, files
    assert stored_keys() == before


def test_no_handler_takes_buffered_files() -> None:
    """A buffered handler (`list[rx.UploadFile]`) runs only once the whole body is read and
    spooled: none may exist. The drop zones' handlers stream."""
    from reflex_base.event import resolve_upload_handler_param
    from reflex_base.registry import RegistrationContext

    import app.app as composition

    buffered, streaming = [], []
    for name, registered in RegistrationContext.get().event_handlers.items():
        try:
            resolve_upload_handler_param(registered.handler)
        except Exception:
            pass
        else:
            buffered.append(name)
        if composition.is_chunked_upload_handler(name):
            streaming.append(name.rsplit(".", 1)[-1])
    assert buffered == []
    assert sorted(streaming) == ["check", "upload", "upload_cover", "upload_version"]
