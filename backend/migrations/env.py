import re

from alembic import context
from sqlalchemy import create_engine, pool

from backend.models import metadata

config = context.config
# The months of analytics_events are made by the worker (backend.analytics.partitions),
# not described by the models: they are the parent table's, whose shape the models give.
_PARTITION = re.compile(r"^analytics_events_\d{4}_\d{2}")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and name is not None and _PARTITION.match(name))


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "backend.migrate sets sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
