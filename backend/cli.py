"""Command-line administration: `python -m backend.cli create-admin EMAIL`, `migrate`,
`reindex`, `usage-report YYYY-MM`, `backup`, `backups`, `restore --to TIME`."""

import argparse
import asyncio
import getpass
import os
import sys
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from backend.errors import LibraryError

if TYPE_CHECKING:
    from backend.embedded import EmbeddedPostgres, EmbeddedRedis


def _ensure_database_url() -> "EmbeddedPostgres | None":
    """Use the embedded cluster of the data folder when no DATABASE_URL is given.

    Returns the cluster if this command started it (and so must stop it).
    """
    from backend.embedded import EmbeddedPostgres
    from backend.operations.backup import wal_archive
    from backend.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return None
    pg = EmbeddedPostgres(settings.data_dir / "pg", archive=wal_archive(settings))
    os.environ["DATABASE_URL"] = pg.start()
    get_settings.cache_clear()
    return None if pg.was_running else pg


async def _create_admin(email: str, password: str, name: str, reset_2fa: bool) -> None:
    from backend.auth import admin as account_admin
    from backend.db import dispose_engine, session_scope
    from backend.users import service

    try:
        async with session_scope() as session:
            user = await service.create_admin(
                session=session, email=email, password=password, display_name=name
            )
            if reset_2fa:
                await account_admin.remove_second_factor(session, user, actor=None)
            await session.commit()
            print(f"Admin ready: {user.email}. Log in at the address the app printed.")
    finally:
        await dispose_engine()


def _ensure_redis_url() -> "EmbeddedRedis | None":
    """The data folder's embedded Redis when no REDIS_URL is given: the running app's if it
    answers, else one started for this command (returned, to be stopped)."""
    import redis

    from backend.embedded import EmbeddedRedis
    from backend.settings import get_settings

    settings = get_settings()
    if settings.redis_url:
        return None
    server = EmbeddedRedis(settings.data_dir / "redis")
    if server.socket.exists():
        try:
            redis.Redis(unix_socket_path=str(server.socket)).ping()
            os.environ["REDIS_URL"] = server.url()
            get_settings.cache_clear()
            return None
        except redis.RedisError:
            pass
    os.environ["REDIS_URL"] = server.start()
    get_settings.cache_clear()
    return server


async def _prepare_search() -> int:
    from backend.db import dispose_engine
    from backend.search import indexer
    from backend.search.engines import get_search_engine

    try:
        return await indexer.prepare_engine(get_search_engine())
    finally:
        await dispose_engine()


async def _catalogue() -> int:
    from backend.db import dispose_engine
    from backend.documents import metadata

    try:
        return await metadata.catalogue_existing()
    finally:
        await dispose_engine()


async def _reindex() -> int:
    from backend.db import dispose_engine
    from backend.redis_client import close_redis
    from backend.search import indexer
    from backend.search.engines import get_search_engine

    try:
        return await indexer.rebuild(get_search_engine())
    finally:
        await dispose_engine()
        await close_redis()


async def _usage_report(month: str, mail_again: bool) -> str:
    from backend.analytics import report
    from backend.db import dispose_engine, session_scope
    from backend.mail.service import queue_message
    from backend.queue import close_pool
    from backend.redis_client import close_redis
    from backend.storage.service import get_store

    try:
        async with session_scope() as session:
            made = await report.make(
                session=session,
                store=get_store(),
                mail=queue_message,
                month=report.Month.parse(month),
                force=True,
                mail_again=mail_again,
            )
    finally:
        await dispose_engine()
        await close_pool()
        await close_redis()
    where = f"{report.key(made.month, 'csv')} and .html"
    mails = f"{made.mailed} e-mail{'' if made.mailed == 1 else 's'} queued"
    return f"Usage report of {made.month.label} made ({where}); {mails}."


def main(argv: list[str] | None = None) -> int:
    from backend.files import keep_private

    keep_private()  # the data folder's files it may create (cluster, index) stay private
    parser = argparse.ArgumentParser(prog="library")
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser("create-admin", help="create the first admin (or promote a user)")
    admin.add_argument("email")
    admin.add_argument("--name", default="")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    admin.add_argument(
        "--reset-2fa",
        action="store_true",
        help="also remove the account's second factor (an admin who lost their device)",
    )
    sub.add_parser(
        "worker-alive",
        help="exit 0 when this host's worker has told Redis it runs in the last 30 s "
        "(a container's liveness probe)",
    )
    backup = sub.add_parser(
        "backup",
        help="copy the stored files and make a base backup of the database (full when "
        "none was made today, else incremental), then drop what is older than kept",
    )
    kind = backup.add_mutually_exclusive_group()
    kind.add_argument("--full", action="store_const", const="full", dest="kind")
    kind.add_argument("--incremental", action="store_const", const="incremental", dest="kind")
    sub.add_parser("backups", help="list the base backups and how far the archived log goes")
    restore = sub.add_parser(
        "restore",
        help="restore the library as it was at a moment into a new data folder (the "
        "running library is not touched)",
    )
    restore.add_argument(
        "--to",
        default="latest",
        help="a moment (2026-12-06T14:30:00 in the library's time zone, or with an offset), "
        "or 'latest' (default)",
    )
    restore.add_argument("--into", default="", help="the new data folder (default: beside it)")
    restore.add_argument(
        "--storage-url",
        default="",
        help="restore the stored files into this (empty) S3 bucket instead of the folder",
    )
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("reindex", help="rebuild the search index from the database")
    usage = sub.add_parser(
        "usage-report",
        help="make (or make again) a month's usage report; it is e-mailed to the admins "
        "who asked for it if it was not before",
    )
    usage.add_argument("month", help="YYYY-MM, a month that has ended")
    usage.add_argument(
        "--mail", action="store_true", help="e-mail it again even if it was e-mailed before"
    )
    args = parser.parse_args(argv)

    if args.command == "worker-alive":
        return asyncio.run(_worker_alive())
    if args.command in ("restore", "backups"):
        # Neither starts the library's database: a restore must work without it.
        from backend.operations import backup_cli

        try:
            if args.command == "backups":
                return backup_cli.show_backups()
            return backup_cli.restore(args.to, args.into, args.storage_url)
        except LibraryError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
    try:
        # The password first: a refusal should not wait for a database to start.
        password = _admin_password(args) if args.command == "create-admin" else ""
        started = _ensure_database_url()
        try:
            return _run(args, password)
        finally:
            if started is not None:
                started.stop()
    except LibraryError as exc:
        print(f"Error: {exc}", file=sys.stderr)
    except (OSError, RuntimeError, SQLAlchemyError, RedisError) as exc:
        # What an operator can fix (a server that is away, a wrong URL, a full disk).
        print(f"Error: {type(exc).__name__}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130
    return 1


async def _worker_alive() -> int:
    """Whether this host's worker answers (it needs Redis only, never a database)."""
    import socket

    from backend.operations import watch
    from backend.redis_client import get_redis

    host = socket.gethostname()
    try:
        redis = get_redis()
        try:
            found = await watch.answering_on(redis, host)
        finally:
            await redis.aclose()
    except (OSError, RuntimeError, RedisError) as exc:
        print(f"Error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if found is None:
        print(f"No worker on {host} heard from in the last {watch.SILENT_SECONDS:.0f} s.")
        return 1
    print(f"{found.name} answered {found.silent_for(int(time.time() * 1000)):.0f} s ago.")
    return 0


def _admin_password(args: argparse.Namespace) -> str:
    """The new admin's password, from standard input or asked on the terminal."""
    from backend.users import passwords

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise LibraryError("No password on standard input.")
    elif not sys.stdin.isatty():
        raise LibraryError(
            "No terminal to ask the password on. Pipe it in with --password-stdin, e.g.\n"
            "  printf '%s\\n' \"$PASSWORD\" | ./run.sh create-admin EMAIL --password-stdin"
        )
    else:
        try:
            password = getpass.getpass("Password for the admin: ")
            again = getpass.getpass("Repeat the password: ")
        except EOFError as exc:
            raise LibraryError("No password was given.") from exc
        if again != password:
            raise LibraryError("The passwords differ.")
    passwords.check_policy(password, email=args.email, name=args.name)
    return password


def _run(args: argparse.Namespace, password: str) -> int:
    from backend.migrate import upgrade
    from backend.settings import get_settings

    settings = get_settings()
    upgrade(settings.database_direct_url or settings.database_url)
    if args.command == "backup":
        from backend.operations import backup_cli

        return backup_cli.backup(args.kind or "auto")
    if args.command == "migrate":
        print("Database is up to date.")
        catalogued = asyncio.run(_catalogue())
        if catalogued:
            print(f"Catalogued {catalogued} documents from their files' metadata.")
        queued = asyncio.run(_prepare_search())
        print(f"Search index ready{f'; {queued} documents queued for indexing' if queued else ''}.")
        return 0
    if args.command == "usage-report":
        # Redis too: the e-mails are sent by the worker's jobs.
        started = _ensure_redis_url()
        try:
            print(asyncio.run(_usage_report(args.month, args.mail)))
        finally:
            if started is not None:
                started.stop()
        return 0
    if args.command == "reindex":
        # Redis too: the running app's cached results must be told the index changed.
        started = _ensure_redis_url()
        try:
            count = asyncio.run(_reindex())
        finally:
            if started is not None:
                started.stop()
        print(f"Indexed {count} documents.")
        return 0
    asyncio.run(_create_admin(args.email, password, args.name, args.reset_2fa))
    return 0


if __name__ == "__main__":
    sys.exit(main())
