"""The search engine this process uses, chosen by settings."""

from functools import lru_cache

from backend.search.engine import SearchEngine
from backend.settings import get_settings


@lru_cache(maxsize=1)
def get_search_engine() -> SearchEngine:
    settings = get_settings()
    if settings.meili_url:
        from backend.search.meili_engine import MeiliEngine

        return MeiliEngine(settings.meili_url, settings.meili_api_key, settings.meili_index)
    if settings.search_engine == "postgres":
        from backend.search.postgres_engine import PostgresEngine

        return PostgresEngine()
    from backend.search.tantivy_engine import TantivyEngine

    return TantivyEngine(settings.data_dir / "search")


def reset_search_engine() -> None:
    """Forget the engine (tests that change the data folder call this)."""
    get_search_engine.cache_clear()
