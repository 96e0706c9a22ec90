"""Reads that may be stale on a real streaming replica of the test cluster (made with
pg_basebackup -R, as the launcher makes its own): a reader always reads back its own
change, through a document page opened in a tab too, while the replica is paused; other
readers read the replica; a replica that is gone sends reads to the primary."""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import breakers, db
from backend.auth import service as auth
from backend.collections.models import Collection
from backend.embedded import EmbeddedReplica
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import Role
from state.record import RecordState
from tests import conftest
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.state.tabs import Tabs, event_name
from tests.worker import run_burst


@pytest.fixture(scope="module")
def replica() -> Iterator[EmbeddedReplica]:
    if conftest._pg is None:
        pytest.skip("needs the embedded test cluster (TEST_DATABASE_URL names another)")
    standby = EmbeddedReplica(Path(conftest._pg.root).with_name("pg-replica"), conftest._pg)
    standby.start()
    yield standby
    standby.stop()


@pytest.fixture
async def routed(
    replica: EmbeddedReplica, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedReplica]:
    """This process reads through the replica (new engines), with a fresh breaker."""
    if not replica.running():
        replica.start()
    monkeypatch.setattr(get_settings(), "database_replica_url", replica.cluster.url)
    await db.dispose_engine()
    breakers.DATABASE_REPLICA.reset()
    yield replica
    _replay(replica, "resume")
    await db.dispose_engine()
    breakers.DATABASE_REPLICA.reset()


def _replay(replica: EmbeddedReplica, what: str) -> None:
    with psycopg.connect(replica.cluster.conninfo, autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{what}()")


async def _read(reader: str) -> tuple[str, bool]:
    """The collection's name as `reader` reads it, and whether the replica answered."""
    db.set_reader(reader)
    async with db.read_scope() as session:
        name = (await session.exec(text("SELECT name FROM collections"))).scalar_one_or_none()
        standby = (await session.exec(text("SELECT pg_is_in_recovery()"))).scalar_one()
        return str(name), bool(standby)


async def _caught_up(reader: str, name: str) -> None:
    deadline = time.monotonic() + 30
    while await _read(reader) != (name, True):
        assert time.monotonic() < deadline, await _read(reader)
        time.sleep(0.05)


async def _document_replayed(document_id: int) -> None:
    deadline = time.monotonic() + 30
    query = text(
        "SELECT count(*) FROM document_versions WHERE document_id = :d AND status = 'ready'"
    ).bindparams(d=document_id)
    while True:
        db.set_reader("")
        async with db.read_scope() as session:
            if (await session.exec(query)).scalar_one():
                return
        assert time.monotonic() < deadline, "the replica never had the ready document"
        time.sleep(0.05)


async def test_a_reader_reads_its_own_change_while_the_replica_lags(
    db: AsyncSession, routed: EmbeddedReplica
) -> None:
    from backend import db as database

    librarian = await make_user(db, Role.LIBRARIAN)
    await make_collection(db, librarian, "Old name")
    await db.commit()
    await _caught_up("someone", "Old name")

    _replay(routed, "pause")
    database.set_reader("the-librarians-session")
    async with database.session_scope() as session:
        collection = (await session.exec(text("SELECT id FROM collections"))).scalar_one()
        row = await session.get(Collection, collection)
        assert row is not None
        row.name = "New name"
        await session.commit()  # notes the primary's position for this reader

    # The writer reads its change back (from the primary: the replica has not got it)...
    assert await _read("the-librarians-session") == ("New name", False)
    # ...while everybody else is served by the replica, as it stands.
    assert await _read("a-patron") == ("Old name", True)
    assert await _read("") == ("Old name", True)

    _replay(routed, "resume")
    await _caught_up("a-patron", "New name")
    # Once the replica has it, the writer is served by the replica too.
    assert await _read("the-librarians-session") == ("New name", True)


async def test_a_document_saved_in_a_tab_shows_its_new_title_to_its_curator_at_once(
    db: AsyncSession, data_dir: Path, routed: EmbeddedReplica
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Open shelf")
    document, _ = await upload_bytes(db, librarian, shelf, b"walrus census\n", "census.txt")
    await db.commit()
    await run_burst()  # ready: a visitor may see it
    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    await _caught_up("anyone", "Open shelf")
    await _document_replayed(document.id)
    _replay(routed, "pause")

    async with Tabs() as tabs:
        curator = await tabs.open(f"/documents/{document.id}", cookie=login.token)
        await tabs.send(curator, event_name(RecordState.start_editing), {})
        form = {"title": "Narwhal atlas", "date_issued": "1901", "creators": "Ann Explorer"}
        await tabs.send(curator, event_name(RecordState.save), {"form": form})
        assert "Saved: title" in curator.sent()
        # Another tab of the same login opens the page: the new title, from the primary.
        again = await tabs.open(f"/documents/{document.id}", cookie=login.token)
        assert "Narwhal atlas" in again.sent()
        # A visitor's tab is served by the replica, which has not replayed the change.
        visitor = await tabs.open(f"/documents/{document.id}")
        assert "Narwhal atlas" not in visitor.sent() and "census" in visitor.sent()
        assert not tabs.errors, tabs.errors
        _replay(routed, "resume")
        await _caught_up("anyone", "Open shelf")
        later = await tabs.open(f"/documents/{document.id}")
        assert "Narwhal atlas" in later.sent()


async def test_without_the_replica_reads_go_to_the_primary_at_once(
    db: AsyncSession, routed: EmbeddedReplica, monkeypatch: pytest.MonkeyPatch
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    await make_collection(db, librarian, "Shelf")
    await db.commit()
    await _caught_up("someone", "Shelf")
    monkeypatch.setattr(get_settings(), "breaker_recovery_seconds", 1)
    breakers.DATABASE_REPLICA.reset()
    routed.stop()
    try:
        started = time.monotonic()
        for _ in range(5):
            assert await _read("someone") == ("Shelf", False)
        print(f"\nreplica gone: five reads from the primary in {time.monotonic() - started:.2f} s")
        assert breakers.DATABASE_REPLICA.is_open  # it is not asked again for a while
    finally:
        routed.start()
    time.sleep(1.1)
    await _caught_up("someone", "Shelf")  # back on the replica once its breaker lets it


async def test_what_may_be_seen_is_not_trusted_when_read_on_a_lagging_replica(
    db: AsyncSession, data_dir: Path, routed: EmbeddedReplica
) -> None:
    """A change of who may see a collection is announced by the primary when it commits
    (backend.access.watch); the replica may not have it yet. What a search reads there is
    a moment stale, as every replica read may be, and never trusted: the next search checks
    it again, and shows the change as soon as the replica has it."""
    from backend import db as database
    from backend.access.watch import WATCH
    from backend.search import scopes
    from backend.search import service as search

    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Harbour shelf")
    doc, _ = await upload_bytes(db, librarian, shelf, b"A quokka in the harbour.\n", "q.txt")
    await db.commit()
    await run_burst()
    assert doc.id is not None
    await _document_replayed(doc.id)

    async def found() -> tuple[int, bool]:
        """What an anonymous search finds, and whether the replica answered."""
        database.set_reader("")
        async with database.read_scope() as session:
            results = await search.search(session=session, actor=None, query="quokka")
            await session.commit()
            return results.total, bool(session.info.get("replica"))

    async def until(condition: Any) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

    async with WATCH.watching():
        await until(lambda: WATCH.listening)
        scopes.forget()
        assert await found() == (1, True)
        _replay(routed, "pause")
        epoch = WATCH.epoch
        async with database.session_scope() as session:
            await session.exec(text("UPDATE collections SET is_public = false"))
            await session.commit()
        await until(lambda: WATCH.epoch != epoch)
        assert await found() == (1, True)  # the replica has not replayed it: stale, as allowed
        _replay(routed, "resume")
        deadline = time.monotonic() + 30
        while (total := await found()) != (0, True):
            assert time.monotonic() < deadline, f"the replica's stale reading was trusted: {total}"
            await asyncio.sleep(0.05)


async def test_a_write_inside_a_read_fails_even_on_the_primary(db: AsyncSession) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    await make_collection(db, librarian, "Shelf")
    await db.commit()
    from backend import db as database

    with pytest.raises(Exception, match="read-only transaction"):
        async with database.read_scope() as session:
            await session.exec(text("UPDATE collections SET name = 'x'"))


@pytest.fixture(scope="module")
def pgbouncer(replica: EmbeddedReplica) -> Iterator[str]:
    """Debian's PgBouncer in transaction mode in front of the primary and the replica,
    three server connections each; yields its address (host:port)."""
    import shutil
    import socket
    import subprocess

    if shutil.which("pgbouncer") is None:
        pytest.fail("pgbouncer is missing: run the tests through ./test.sh, which installs it")
    import tempfile

    # Outside pytest's own folder (0700): it runs as the PostgreSQL wheel's user, since
    # it refuses to run as root.
    folder = Path(tempfile.mkdtemp(prefix="library-pgbouncer-"))
    folder.chmod(0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    primary = conftest._pg
    assert primary is not None
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"library_test = host={primary.root} dbname=library_test user=postgres\n"
        f"library_replica = host={replica.root} dbname=library_test user=postgres\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\nadmin_users = postgres\n"
        "pool_mode = transaction\ndefault_pool_size = 3\nmax_client_conn = 500\n"
        f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    from backend.embedded import pg_system_user

    for path in folder.iterdir():
        path.chmod(0o644)
    user = pg_system_user()
    if user is not None:  # its log and pid file
        import pwd

        os.chown(folder, pwd.getpwnam(user).pw_uid, -1)

    said = open(folder / "output.txt", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        ["pgbouncer", str(folder / "pgbouncer.ini")],
        user=pg_system_user(),
        stdout=said,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} dbname=pgbouncer user=postgres"):
                break
        except psycopg.Error:
            assert proc.poll() is None, (folder / "output.txt").read_text()
            assert time.monotonic() < deadline, "pgbouncer did not start"
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    said.close()
    shutil.rmtree(folder, ignore_errors=True)


def _pools(address: str) -> dict[str, dict[str, int]]:
    host, port = address.split(":")
    with psycopg.connect(
        f"host={host} port={port} dbname=pgbouncer user=postgres", autocommit=True
    ) as conn:
        cur = conn.execute("SHOW STATS")
        names = [c.name for c in cur.description or []]
        return {
            row[names.index("database")]: {
                "transactions": int(row[names.index("total_xact_count")]),
            }
            for row in cur.fetchall()
        }


async def test_the_library_runs_through_pgbouncer_in_transaction_mode(
    db: AsyncSession,
    data_dir: Path,
    routed: EmbeddedReplica,
    pgbouncer: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from backend.search import service as search

    direct = get_settings().database_url
    settings = get_settings()
    monkeypatch.setattr(settings, "database_direct_url", direct)
    monkeypatch.setattr(
        settings, "database_url", f"postgresql+psycopg://postgres@{pgbouncer}/library_test"
    )
    monkeypatch.setattr(
        settings,
        "database_replica_url",
        f"postgresql+psycopg://postgres@{pgbouncer}/library_replica",
    )
    monkeypatch.setattr(settings, "database_pgbouncer", True)
    await db.close()
    await database_reset()
    before = _pools(pgbouncer)

    from backend import db as database

    librarian_id = 0
    async with database.session_scope() as session:
        librarian = await make_user(session, Role.LIBRARIAN)
        shelf = await make_collection(session, librarian, "Bounced shelf")
        await upload_bytes(session, librarian, shelf, b"petrel colonies\n", "petrels.txt")
        await session.commit()
        librarian_id = librarian.id or 0
    await run_burst()  # the worker's run lock and its jobs, with PgBouncer in between

    async def reads(n: int) -> int:
        """The same statements many times over, each in its own transaction: psycopg
        would prepare them on the fifth, on a server connection the next transaction
        may not get."""
        seen = 0
        for _ in range(10):
            database.set_reader(f"reader-{n}")
            async with database.read_scope() as session:
                found = await session.exec(
                    text("SELECT count(*) FROM documents WHERE title = :t").bindparams(t="petrels")
                )
                seen += int(found.scalar_one())
        return seen

    deadline = time.monotonic() + 30
    while sum(await asyncio.gather(*(reads(n) for n in range(1)))) == 0:
        assert time.monotonic() < deadline, "the replica never had the document"
    counts = await asyncio.gather(*(reads(n) for n in range(40)))  # 40 clients, 3 servers
    assert counts == [10] * 40
    async with database.session_scope() as session:
        found = await search.search(session=session, actor=None, query="petrel", use_cache=False)
        assert [h.title for h in found.hits] == ["petrels"]
        assert librarian_id
    after = _pools(pgbouncer)
    # Both pools carried the traffic: the replica's the reads, the primary's the rest.
    assert (
        after["library_replica"]["transactions"]
        - before.get("library_replica", {"transactions": 0})["transactions"]
        >= 400
    )
    assert (
        after["library_test"]["transactions"]
        > before.get("library_test", {"transactions": 0})["transactions"]
    )
    await database_reset()


async def database_reset() -> None:
    from backend import db as database

    await database.dispose_engine()
    breakers.DATABASE_REPLICA.reset()


@pytest.mark.parametrize("told", [False, True], ids=["not told", "DATABASE_PGBOUNCER"])
async def test_psycopg_prepares_nothing_through_pgbouncer_once_told(
    pgbouncer: str, monkeypatch: pytest.MonkeyPatch, told: bool
) -> None:
    """Why DATABASE_PGBOUNCER exists: psycopg prepares a statement on its fifth run, under
    a name of its own numbering (`_pg3_0` on every connection), on the server connection
    PgBouncer lent for that transaction; a second client given the same server connection
    (PgBouncer lends the last one returned) then fails to prepare its own. Told, the app's
    connections prepare nothing."""
    from backend import db as database

    monkeypatch.setattr(get_settings(), "database_pgbouncer", told)
    host, port = pgbouncer.split(":")
    conninfo = f"host={host} port={port} dbname=library_test user=postgres"
    args = database._connect_args()
    first = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, **args)
    second = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, **args)
    try:

        async def six_times(conn: psycopg.AsyncConnection[Any], statement: str) -> None:
            for _ in range(6):  # one after the other: each its own transaction
                await conn.execute(statement.encode())

        await six_times(first, "SELECT count(*) FROM users")
        if told:
            await six_times(second, "SELECT count(*) FROM collections")
        else:
            with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
                await six_times(second, "SELECT count(*) FROM collections")
    finally:
        await first.close()
        await second.close()
