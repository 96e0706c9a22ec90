"""The one settings object. Every value comes from the environment (or `.env`)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = DEV_SECRET
    data_dir: Path = PROJECT_ROOT / "var"

    # Empty URLs mean "use the embedded server in data_dir" (see backend.embedded).
    database_url: str = ""
    redis_url: str = ""
    storage_url: str = ""  # empty: local folder in data_dir/objects
    # A streaming replica of DATABASE_URL's server: reads that may be a moment stale
    # (browse lists, search visibility, document pages, analytics) go there, unless the
    # reader's own last change has not reached it yet (backend.db.read_scope). Empty: every
    # read on the primary. The launcher sets it when embedded_replica is on.
    database_replica_url: str = ""
    # The launcher also runs a streaming replica of its embedded PostgreSQL (data_dir/
    # pg-replica, made with pg_basebackup -R) and routes those reads to it.
    embedded_replica: bool = False
    # Behind PgBouncer in transaction mode: no server-side prepared statements (psycopg's
    # are per server connection, which PgBouncer shares between clients).
    database_pgbouncer: bool = False
    # Each web and worker process's connections to the primary (and as many to the
    # replica): kept open, and up to `overflow` more at busy moments. A request that
    # finds them all in use waits at most `pool_timeout` for one, then is told the
    # library is busy (503, Retry-After), rather than hanging.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_pool_overflow: int = Field(default=10, ge=0, le=200)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # The server itself, for what needs a connection's own session and so cannot go
    # through PgBouncer's transaction pooling: the worker's locks held across
    # transactions, the analytics flush's temporary table, migrations, base backups
    # (a replication connection). Empty: DATABASE_URL.
    database_direct_url: str = ""

    public_url: str = "http://localhost:3000"
    # The library's name, as harvesters and feed readers show it; and the address of whoever
    # answers for it (OAI-PMH's adminEmail; empty: smtp_from).
    library_name: str = Field(default="Library", min_length=1, max_length=200)
    admin_email: str = ""
    # The address the web process listens on: this machine only, unless told otherwise. A
    # deployment behind a proxy on another host, or in a container, sets 0.0.0.0.
    host: str = "127.0.0.1"
    port: int = 3000
    # Set by the launcher for its children: the health check answers with it, so the
    # launcher knows its own web process answers (not another one on the port).
    library_instance: str = ""
    # Behind reverse proxies, how many of them add X-Forwarded-For: the visitor's address is
    # read from it (login throttling, autocomplete's count of people). 0 ignores the header,
    # which anyone could write, and takes the address of whoever connected.
    trusted_proxy_hops: int = Field(default=0, ge=0, le=10)
    web_workers: int = Field(default=2, ge=1, le=64)

    # Rate limits (backend.ratelimits), each one or more `N/second|minute|hour|day`
    # joined by ";". Requests of any kind per client address, and per session or API token;
    # upload requests per address; websocket events per browser tab, and the events that
    # run a search per tab and per address.
    rate_limit_address: str = "1000/minute"
    rate_limit_identity: str = "1000/minute"
    rate_limit_upload: str = "120/minute"
    rate_limit_events: str = "30/second;1000/minute"
    rate_limit_search: str = "10/second;300/minute"
    # Origins (scheme://host[:port], comma-separated) whose pages may call the REST API
    # from a browser; none by default.
    cors_origins: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The bearer token a Prometheus scraper sends for GET /metrics; empty: no metrics page.
    metrics_token: str = ""

    max_upload_bytes: int = 1024 * 1024 * 1024
    # The body of one upload request (several files of up to max_upload_bytes each, or a
    # bulk import's CSV and ZIP); 0 means four files' worth. Every other request (forms,
    # the REST API, the websocket's polling fallback) is capped at max_other_request_bytes.
    max_request_bytes: int = Field(default=0, ge=0)
    max_other_request_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    session_idle_minutes: int = 60 * 24
    session_absolute_hours: int = 24 * 14
    reset_token_minutes: int = 30
    # An invitation of a librarian or an admin (its mailed link) works this long.
    invitation_days: int = Field(default=7, ge=1, le=90)
    login_free_failures: int = 3
    login_max_delay_seconds: int = 900

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "library@localhost"
    smtp_starttls: bool = True
    # A message that could not be delivered is tried again after 1, 2, 4 ... up to 60
    # minutes; after this long it is given up, its error kept on the outbox row.
    mail_give_up_hours: float = Field(default=24, gt=0)

    # A running job's in-progress mark in Redis lives this long past its worker's last
    # heartbeat (renewed every sixth of it): a job whose worker died is run again by
    # another worker this soon, and never while its worker lives.
    job_lease_seconds: int = Field(default=30, ge=5, le=600)
    # Tests only: the pipeline waits this long before extraction, so that a test can kill
    # or starve a worker in the middle of a job.
    ingest_test_delay_seconds: float = Field(default=0, ge=0)

    # Extraction and thumbnails run in a child process under these limits.
    extract_memory_mb: int = Field(default=1536, ge=256)
    extract_cpu_seconds: int = Field(default=120, ge=5)
    extract_wall_seconds: int = Field(default=240, ge=5)
    extract_max_pages: int = Field(default=5000, ge=1)
    max_image_pixels: int = Field(default=80_000_000, ge=1_000_000)
    zip_max_unpacked_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    zip_max_files: int = Field(default=10_000, ge=10)
    ocr_enabled: bool = True
    # Which installed tesseract languages OCR may use ("eng+fra", or empty for all of them):
    # the script of each page (found first) picks among them.
    ocr_languages: str = ""
    ocr_max_pages: int = Field(default=50, ge=0)
    # Office files (Word, Excel and PowerPoint 97-2003, .xlsx, .pptx, .ods, .odp,
    # WordPerfect) are turned into PDF by LibreOffice, headless, which each worker keeps
    # running (unoserver, run by the Python that has Debian's python3-uno). LibreOffice and
    # its driver live under this address-space limit (LibreOffice maps about 700 MB idle);
    # a conversion longer than extract_wall_seconds is killed with them.
    office_enabled: bool = True
    office_python: str = "/usr/bin/python3"
    office_memory_mb: int = Field(default=3072, ge=1024)

    # Virus scanning through clamd: unix:///run/clamav/clamd.ctl or tcp://host:3310.
    clamd_url: str = ""
    # Without a scanner, may files be published unscanned? (No: they wait as "failed".)
    publish_unscanned: bool = True

    # With a remote object store (S3), the files page images are drawn from on demand are
    # kept on this machine, up to this many MB (the least recently used go first), so a
    # reader turning pages does not fetch the whole PDF again for every few pages. 0: none.
    object_cache_mb: int = Field(default=2048, ge=0)

    # Backups (backend.operations.backup). The write-ahead log of the embedded PostgreSQL is
    # archived into backup_dir/wal as it is written, and at least every
    # wal_archive_timeout_seconds when anything changed (the most a lost disk loses); base
    # backups (a full one daily, an incremental one hourly) and a copy of every stored file
    # go beside it, kept backup_keep_days. Empty: a folder beside the data folder
    # ("var-backups" for "var"); put it on another disk in production.
    backup_dir: Path | None = None
    wal_archive: bool = True
    wal_archive_timeout_seconds: int = Field(default=60, ge=10, le=3600)
    backup_keep_days: int = Field(default=30, ge=1, le=3650)
    # Whether the worker makes the base backups and the copy of the stored files by itself
    # (hourly, and every five minutes); off, only `./run.sh backup` makes them.
    scheduled_backups: bool = True
    # With S3 storage, where the copy of every stored file goes: another bucket
    # (s3://..., as STORAGE_URL); empty: backup_dir/objects.
    backup_storage_url: str = ""

    search_page_size: int = Field(default=10, ge=1, le=100)
    # Timeouts and circuit breakers around the services a request waits on (the search
    # server, the object store, clamd; backend.breakers): a call gets this long, and after
    # breaker_failures failures in a row the service is not asked at all for
    # breaker_recovery_seconds (callers get "try again in N s" at once).
    search_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    storage_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    connect_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    breaker_failures: int = Field(default=3, ge=1, le=100)
    breaker_recovery_seconds: int = Field(default=10, ge=1, le=3600)
    # Which engine answers searches: tantivy (in-process, the default on one machine), or
    # postgres (full-text search inside PostgreSQL, for several machines and no search
    # server; correct, not fast). Switching fills the new engine from the outbox.
    search_engine: Literal["tantivy", "postgres"] = "tantivy"
    # Meilisearch, for a library on several machines: when set, it answers searches
    # (whatever search_engine says). The key is an API key with search and write rights.
    meili_url: str = ""
    meili_api_key: str = ""
    meili_index: str = Field(default="library", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    # The indexer waits up to this long to gather a batch (or until it has 100 documents).
    index_batch_seconds: float = Field(default=10.0, ge=0)
    index_batch_size: int = Field(default=100, ge=1)
    # Autocomplete offers a past query once this many different people asked it within the
    # window (a person: a logged-in user, or a visitor's address under a daily key). Fewer
    # than 5 people could plant any words in every visitor's suggestions, and a suggestion
    # then never points at what one person searched for.
    completion_min_searchers: int = Field(default=5, ge=2)
    completion_window_days: int = Field(default=30, ge=1, le=365)
    # Analytics events older than this many whole months are dropped (by month).
    analytics_retention_months: int = Field(default=25, ge=1, le=240)
    # The library's time zone (IANA name): where its days begin, for the dashboards' days.
    library_timezone: str = "UTC"
    # bcrypt cost; tests lower it, production keeps the default or raises it.
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> "Settings":
        if self.environment == "production" and (
            self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "SECRET_KEY must be set to a random value of 32+ characters in production"
            )
        try:
            ZoneInfo(self.library_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"LIBRARY_TIMEZONE: no time zone {self.library_timezone!r}") from exc
        if self.ingest_test_delay_seconds and self.environment != "test":
            raise ValueError("INGEST_TEST_DELAY_SECONDS is for tests only")
        from limits import parse_many

        for name in ("address", "identity", "upload", "events", "search"):
            value = getattr(self, f"rate_limit_{name}")
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(
                    f"RATE_LIMIT_{name.upper()}: {value!r} is not like 1000/minute or "
                    "10/second;300/minute"
                ) from exc
        for origin in self.cors_list:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"CORS_ORIGINS: {origin!r} is not like https://host[:port]")
        return self

    @property
    def cors_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def upload_request_cap(self) -> int:
        """The most bytes one upload request may carry, multipart headers included."""
        return self.max_request_bytes or 4 * self.max_upload_bytes + (1 << 20)

    @property
    def direct_dsn(self) -> str:
        """The database server itself (never a transaction pooler), as psycopg reads it:
        for a connection of its own that holds a session's state (a lock, a temporary
        table, a LISTEN)."""
        from sqlalchemy import make_url

        url = make_url(self.database_direct_url or self.database_url)
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def backups(self) -> Path:
        return self.backup_dir or self.data_dir.with_name(self.data_dir.name + "-backups")


@lru_cache
def get_settings() -> Settings:
    return Settings()
