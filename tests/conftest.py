"""Test harness: real PostgreSQL and Redis (embedded, or TEST_DATABASE_URL / TEST_REDIS_URL).

The servers start once per test session in a temporary folder; every test starts from
empty tables and an empty Redis database, and leaves them that way.
"""

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

_TMP = Path(tempfile.mkdtemp(prefix="library-tests-"))
os.environ["ENVIRONMENT"] = "test"
os.environ["DATA_DIR"] = str(_TMP / "data")
os.environ["BCRYPT_ROUNDS"] = "4"
os.environ["INDEX_BATCH_SECONDS"] = "0"  # tests index at once
# Tests send events and requests much faster than people: rate limits out of their way,
# except in the tests of the limits themselves (tests/backend/test_gateway.py).
for _budget in ("ADDRESS", "IDENTITY", "UPLOAD", "EVENTS", "SEARCH"):
    os.environ[f"RATE_LIMIT_{_budget}"] = "1000000/minute"
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
# Apps the tests launch neither archive their log nor back up on the hour (the backup
# tests turn both on for their own library).
os.environ["WAL_ARCHIVE"] = "false"
os.environ["SCHEDULED_BACKUPS"] = "false"

from backend.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402

_pg: EmbeddedPostgres | None = None
_redis: EmbeddedRedis | None = None
if os.environ.get("TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
else:
    _pg = EmbeddedPostgres(_TMP / "pg", database="library_test")
    os.environ["DATABASE_URL"] = _pg.start()
if os.environ.get("TEST_REDIS_URL"):
    os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
else:
    _redis = EmbeddedRedis(_TMP / "redis")
    os.environ["REDIS_URL"] = _redis.start()

from sqlmodel.ext.asyncio.session import AsyncSession  # noqa: E402

from backend import db as backend_db  # noqa: E402
from backend.migrate import upgrade  # noqa: E402
from backend.redis_client import get_redis  # noqa: E402
from tests.factories import empty_library  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def pytest_sessionstart(session: pytest.Session) -> None:
    upgrade(os.environ["DATABASE_URL"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _redis is not None:
        _redis.stop()
    if _pg is not None:
        _pg.stop()
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "files").is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS} (a plain clone has no ../shared)")
    return CORPUS


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAMD = Path("/usr/sbin/clamd")


@pytest.fixture(scope="session")
def clamd_url() -> Iterator[str]:
    """A real clamd (Debian's clamav-daemon) with a one-line database that knows EICAR."""
    import hashlib
    import subprocess
    import time

    if not CLAMD.exists():
        pytest.skip("clamd is not installed (./test.sh installs Debian's clamav-daemon)")
    root = _TMP / "clamd"
    (root / "db").mkdir(parents=True)
    (root / "tmp").mkdir()
    md5 = hashlib.md5(EICAR).hexdigest()
    (root / "db" / "eicar.hdb").write_text(f"{md5}:{len(EICAR)}:Eicar-Test-Signature\n")
    socket_path = root / "clamd.sock"
    (root / "clamd.conf").write_text(
        f"LocalSocket {socket_path}\nDatabaseDirectory {root / 'db'}\nForeground yes\n"
        f"LogFile {root / 'clamd.log'}\nTemporaryDirectory {root / 'tmp'}\n"
    )
    proc = subprocess.Popen(
        [str(CLAMD), f"--config-file={root / 'clamd.conf'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = root / "clamd.log"
            pytest.fail("clamd did not start: " + (log.read_text() if log.exists() else ""))
        time.sleep(0.2)
    yield f"unix://{socket_path}"
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """A real S3-protocol HTTP server (moto_server) with a fresh bucket."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start: {exc}")
            time.sleep(0.2)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "library-test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "library-test-secret")
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="library"
    )
    yield f"s3://library/objects?endpoint={endpoint}&region=us-east-1"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_store(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every store the app builds during the test is the S3 one."""
    from backend.settings import get_settings
    from backend.storage.service import get_store

    monkeypatch.setattr(get_settings(), "storage_url", s3_url)
    get_store.cache_clear()
    yield s3_url
    get_store.cache_clear()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(os.environ["DATA_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path / "objects", ignore_errors=True)
    shutil.rmtree(path / "cache", ignore_errors=True)


@pytest.fixture
async def clean() -> AsyncIterator[None]:
    """Empty tables and Redis after the test (and the analytics buffer before it: tests
    that serve the app, which clean their own database, may leave events of this
    process's there)."""
    from backend.analytics import events as analytics_events

    await analytics_events.sent()
    await get_redis().delete(analytics_events.BUFFER, analytics_events.FLUSHING)
    yield
    from backend import queue
    from backend.analytics import events

    await events.sent()  # this test's events leave now, not into the next test's Redis
    await queue.close_pool()
    await empty_library()


@pytest.fixture
async def db(clean: None) -> AsyncIterator[AsyncSession]:
    async with backend_db.session_scope() as session:
        yield session


@pytest.fixture(autouse=True)
def closed_circuits() -> Iterator[None]:
    """Every test starts with the circuits around the search server, the object store and
    clamd closed (backend.breakers): one test's dead service is not the next one's."""
    yield
    from backend import breakers

    for dependency in breakers.ALL:
        dependency.reset()


@pytest.fixture
def rate_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set rate budgets for one test: rate_limits(address="3/minute", search="2/minute")
    (the suite's own are out of the way; see the top of this file)."""
    from backend import ratelimits
    from backend.settings import get_settings

    def set_limits(**budgets: str) -> None:
        for name, value in budgets.items():
            monkeypatch.setattr(get_settings(), f"rate_limit_{name}", value)
        ratelimits.reset_limiter()

    yield set_limits
    monkeypatch.undo()
    ratelimits.reset_limiter()


def gateway_client(client_address: str = "198.51.100.7", **settings: Any) -> httpx.AsyncClient:
    """An HTTP client of the REST API behind the gateway, as the app serves it, from
    `client_address`, with settings changed as given."""
    from backend.api.routes import create_api
    from backend.settings import get_settings
    from backend.web.gateway import wrap

    app = wrap(create_api(), get_settings().model_copy(update=settings), upload_path="/_upload")
    transport = httpx.ASGITransport(app=app, client=(client_address, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://library.test")


@pytest.fixture
async def api(clean: None) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API behind the gateway (see gateway_client)."""
    async with gateway_client() as client:
        yield client
