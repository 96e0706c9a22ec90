"""The migrations build exactly the tables the models describe, and can be undone."""

import os

import psycopg
from alembic import command
from sqlalchemy import make_url

from backend.migrate import alembic_config, downgrade, upgrade


def test_models_and_migrations_agree() -> None:
    # Raises if autogenerate would find any difference between models and database.
    command.check(alembic_config(os.environ["DATABASE_URL"]))


def test_downgrade_and_upgrade_round_trip() -> None:
    url = make_url(os.environ["DATABASE_URL"])
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "library_migrations" WITH (FORCE)')
        conn.execute('CREATE DATABASE "library_migrations"')
    target = url.set(database="library_migrations").render_as_string(hide_password=False)
    upgrade(target)
    downgrade(target, "base")
    upgrade(target)
    command.check(alembic_config(target))
