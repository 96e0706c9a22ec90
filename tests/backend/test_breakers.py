"""Timeouts and circuit breakers (backend.breakers) around the search server, the object
store and clamd, each made to fail for real: a port nothing listens on (refused at once),
and a server that accepts connections and never answers (a hang). A dead dependency gives
a clear sentence, and once its circuit is open it is not even asked."""

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend import breakers
from backend.errors import Unavailable
from backend.ingest import virus
from backend.search.engines import reset_search_engine
from backend.settings import get_settings
from backend.storage.s3 import S3ObjectStore


class SilentServer:
    """Accepts TCP connections, reads what comes, never answers; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for conn in self.held:
            conn.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def tight(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Short deadlines, and a circuit that opens after two failures, for one test."""
    settings = get_settings()
    for name, value in {
        "search_timeout_seconds": 0.3,
        "storage_timeout_seconds": 0.3,
        "connect_timeout_seconds": 0.3,
        "breaker_failures": 2,
        "breaker_recovery_seconds": 30,
    }.items():
        monkeypatch.setattr(settings, name, value)
    for dependency in breakers.ALL:
        dependency.reset()
    yield
    for dependency in breakers.ALL:
        dependency.reset()


@pytest.fixture
def meili_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def point(url: str) -> None:
        monkeypatch.setattr(get_settings(), "meili_url", url)
        reset_search_engine()

    yield point
    monkeypatch.undo()
    reset_search_engine()


# --- the breaker itself ---------------------------------------------------------------


async def test_errors_of_the_callers_own_pass_through_and_do_not_count(tight: None) -> None:
    dependency = breakers.SEARCH_ENGINE

    async def refuses() -> None:
        raise KeyError("no such thing")  # the service answered: this call was wrong

    for _ in range(5):
        with pytest.raises(KeyError):
            await dependency.call(refuses)
    assert not dependency.is_open

    async def fails() -> None:
        raise breakers.Failure("503")

    for _ in range(2):
        with pytest.raises(Unavailable, match="cannot be reached"):
            await dependency.call(fails)
    assert dependency.is_open
    with pytest.raises(Unavailable, match=r"is not answering; try again in \d+ s") as refused:
        await dependency.call(refuses)  # not even called
    assert 1 <= refused.value.retry_after <= 30


async def test_a_success_closes_the_count(tight: None) -> None:
    dependency = breakers.OBJECT_STORE

    async def fails() -> None:
        raise ConnectionRefusedError()

    async def works() -> int:
        return 7

    with pytest.raises(Unavailable):
        await dependency.call(fails)
    assert await dependency.call(works) == 7
    with pytest.raises(Unavailable):
        await dependency.call(fails)
    assert not dependency.is_open  # one failure since the last success


# --- the search server ----------------------------------------------------------------


async def test_a_search_server_that_hangs_is_cut_off_and_then_not_asked(
    api: httpx.AsyncClient, tight: None, silent: SilentServer, meili_at: object
) -> None:
    meili_at(f"http://127.0.0.1:{silent.port}")  # type: ignore[operator]
    first = await api.get("/api/v1/search", params={"q": "lighthouse"})
    assert first.status_code == 503
    assert first.headers["content-type"] == "application/problem+json"
    assert "did not answer within 0.3 s" in first.json()["detail"]
    assert int(first.headers["retry-after"]) >= 1
    while not breakers.SEARCH_ENGINE.is_open:
        assert (await api.get("/api/v1/search", params={"q": "lighthouse"})).status_code == 503
    asked = silent.accepted
    assert asked >= 1
    refused = await api.get("/api/v1/search", params={"q": "sea"})
    assert refused.status_code == 503
    assert "The search engine is not answering; try again in" in refused.json()["detail"]
    assert silent.accepted == asked  # no connection was even tried
    ready = (await api.get("/api/v1/health/ready")).json()["checks"]
    assert ready["search_engine"].startswith("The search engine is not answering")


async def test_a_search_server_that_is_gone_says_so_without_naming_where_it_was(
    api: httpx.AsyncClient, tight: None, meili_at: object
) -> None:
    port = closed_port()
    meili_at(f"http://127.0.0.1:{port}")  # type: ignore[operator]
    answer = await api.get("/api/v1/search", params={"q": "lighthouse"})
    assert answer.status_code == 503
    assert answer.json()["detail"] == "The search engine cannot be reached; try again shortly."
    ready = await api.get("/api/v1/health/ready")
    assert ready.status_code == 503
    assert str(port) not in ready.text and "127.0.0.1" not in ready.text


# --- the object store -----------------------------------------------------------------


async def test_an_object_store_that_is_gone_or_hangs_is_refused_quickly(
    tight: None, silent: SilentServer, s3_url: str
) -> None:
    gone = S3ObjectStore(f"s3://library/o?endpoint=http://127.0.0.1:{closed_port()}&region=x")
    with pytest.raises(Unavailable, match="The file store cannot be reached"):
        await gone.size("ab/cd")
    breakers.OBJECT_STORE.reset()
    hangs = S3ObjectStore(f"s3://library/o?endpoint=http://127.0.0.1:{silent.port}&region=x")
    with pytest.raises(Unavailable, match="The file store did not answer within 0.3 s"):
        await hangs.exists("ab/cd")
    with pytest.raises(Unavailable):
        async for _ in hangs.read("ab/cd"):
            pass
    asked = silent.accepted
    with pytest.raises(Unavailable, match="not answering; try again in"):
        await hangs.size("ab/cd")
    assert silent.accepted == asked
    # A missing object is no failure of the store: it is missing, as on a disk.
    breakers.OBJECT_STORE.reset()
    live = S3ObjectStore(s3_url)
    for _ in range(3):
        with pytest.raises(FileNotFoundError):
            async for _ in live.read("no/such-object"):
                pass
    assert not breakers.OBJECT_STORE.is_open


async def test_a_missing_file_is_a_404_before_any_byte_is_sent(clean: None) -> None:
    from backend.api.routes import opened
    from backend.errors import NotFound
    from backend.storage.service import get_store, new_original_key

    store, key = get_store(), new_original_key()
    with pytest.raises(NotFound):
        await opened(key)
    writer = store.writer(key)
    await writer.write(b"x" * 10)
    await writer.commit()
    try:
        assert b"".join([c async for c in await opened(key)]) == b"x" * 10
    finally:
        await store.delete(key)


# --- clamd --------------------------------------------------------------------------------


async def test_a_dead_virus_scanner_is_not_asked_once_its_circuit_opens(
    tight: None, silent: SilentServer, tmp_path: Path
) -> None:
    sample = tmp_path / "a.txt"
    sample.write_text("hello")
    with pytest.raises(virus.ScannerUnavailable, match="cannot be reached"):
        await virus.scan(f"unix://{tmp_path}/no-clamd.ctl", sample)
    with pytest.raises(virus.ScannerUnavailable):
        await virus.scan(f"tcp://127.0.0.1:{closed_port()}", sample)
    with pytest.raises(virus.ScannerUnavailable, match=r"not answering \(asked again in"):
        await virus.scan(f"tcp://127.0.0.1:{silent.port}", sample)
    assert silent.accepted == 0


async def test_a_working_scanner_still_scans(tight: None, clamd_url: str, tmp_path: Path) -> None:
    sample = tmp_path / "a.txt"
    sample.write_text("hello")
    assert (await virus.scan(clamd_url, sample)).clean
    assert not breakers.VIRUS_SCANNER.is_open


# --- on the pages -------------------------------------------------------------------------


async def test_the_search_page_says_the_engine_is_down_in_words(
    clean: None, tight: None, meili_at: object
) -> None:
    """A handler's LibraryError reaches the tab as its own sentence (state.failures, the
    app's exception handler for every handler), not as "An error occurred"."""
    from tests.state.tabs import Tabs

    meili_at(f"http://127.0.0.1:{closed_port()}")  # type: ignore[operator]
    async with Tabs() as tabs:
        tab = await tabs.open("/search?q=lighthouse")
        assert "The search engine cannot be reached; try again shortly." in tab.sent()
        assert "An error occurred" not in tab.sent()
        assert [type(e) for e in tabs.errors] == [Unavailable]
